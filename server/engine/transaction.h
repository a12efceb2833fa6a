#ifndef SETTLE_SERVER_ENGINE_TRANSACTION_H_
#define SETTLE_SERVER_ENGINE_TRANSACTION_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine/participant_channel.h"
#include "storage/records.pb.h"

namespace settle::engine {

// What Execute reports. An abort is an outcome, not an error.
struct ExecuteResult {
  std::string txn_id;
  bool committed = false;
  int refused_branch = -1;
  std::string refused_participant;
  std::string reason;
  bool replayed = false;
};
using ExecuteDone = std::function<void(absl::StatusOr<ExecuteResult>)>;

// The outcome a logged record stands for (COMMITTING or COMMITTED is committed).
ExecuteResult ResultFromRecord(const storage::TxnRecord& rec);
// True if both ask for the same work: mode, and each branch's participant and payload.
bool SameBody(const storage::TxnRecord& a, const storage::TxnRecord& b);

// Delivery of the decision to one branch.
struct BranchDelivery {
  uint32_t attempts = 0;
  std::string last_error;
  absl::Time next_retry = absl::InfinitePast();
  bool acked = false;
};

// A consistent copy of one transaction for queries.
struct TxnSnapshot {
  storage::TxnRecord record;
  std::vector<BranchDelivery> delivery;  // Empty for transactions read from the log.
  bool stuck = false;
};

// The in-memory state machine of one active transaction. Transitions, and who triggers them:
//
//        Execute: begin record queued (not forced; presumed abort), Prepares sent
//                 |
//                 v
//   +------- PREPARING ---------------------------------------------+
//   |  all branches vote YES (vote callbacks)                        | a NO, an error, the deadline
//   |     -> COMMIT record forced to the log                         | (vote callbacks), an operator
//   |        (durable: replies COMMITTED;                            | abort, or start-up recovery
//   |         failed: replies UNAVAILABLE and decides ABORT)         | -> ABORT record (not forced)
//   v                                                                v
// COMMITTING --Commit acked by every branch-->  COMMITTED       ABORTING --Abort acked--> ABORTED
//   (delivery retried with capped backoff,      (finished        (same retries)        (finished
//    never given up)                             record)                                 record)
//
// While the COMMIT record is being forced the state stays PREPARING: GetDecision answers
// UNDECIDED, never a COMMIT that might not survive a crash. Once a decision is started no vote,
// timeout or operator can start another.
//
// Thread-safe: every method takes the transaction's own lock and nothing else, so it may be
// called with the coordinator's lock held (that order only: coordinator, then transaction).
class Transaction final {
 public:
  enum class VoteAction { kWait, kCommit, kAbort, kIgnore };

  explicit Transaction(storage::TxnRecord record);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  const std::string& id() const { return id_; }
  const std::string& key() const { return key_; }
  int mode() const { return mode_; }
  size_t branch_count() const { return participants_.size(); }
  const std::string& participant(uint32_t branch) const { return participants_[branch]; }
  const absl::Time begin_time() const { return begin_; }

  // True if `other` asks for the same work (mode, participants and payloads); nullopt once the
  // payloads were shed and only participants and mode could be compared (read the log).
  std::optional<bool> SameBody(const storage::TxnRecord& other) const ABSL_LOCKS_EXCLUDED(mu_);

  // Queues `done` for the outcome (or for every acknowledgement with `wait_for_acks`), or
  // returns the result now if it is already known. `replayed` marks a repeated key.
  std::optional<ExecuteResult> AddWaiter(bool wait_for_acks, bool replayed, ExecuteDone done)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The prepare calls to send, one per branch.
  std::vector<PrepareCall> PrepareCalls() const ABSL_LOCKS_EXCLUDED(mu_);

  // Records a vote (or a failed Prepare). kCommit / kAbort: this call started the decision and
  // the caller must log it; kIgnore: a decision was already started.
  VoteAction RecordVote(uint32_t branch, const absl::StatusOr<VoteResult>& vote)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Starts an ABORT decision (operator, recovery, failed COMMIT write). False if a decision was
  // already started.
  bool StartAbort(int refused_branch, const std::string& reason) ABSL_LOCKS_EXCLUDED(mu_);
  // The decision record could not be written: a started COMMIT becomes an ABORT (an ABORT
  // stays one) and every waiter is returned, to be told UNAVAILABLE.
  std::vector<ExecuteDone> DecisionNotLogged(const std::string& reason) ABSL_LOCKS_EXCLUDED(mu_);

  // The record that logs the started decision.
  storage::TxnRecord DecisionRecord(absl::Time now) const ABSL_LOCKS_EXCLUDED(mu_);
  // The decision is logged: the state becomes COMMITTING or ABORTING. Returns the waiters
  // that wanted only the outcome, with the result to give them.
  std::vector<ExecuteDone> ApplyDecision(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  // Puts a logged COMMITTING / ABORTING transaction back in that state (start-up).
  void RestoreDecided() ABSL_LOCKS_EXCLUDED(mu_);

  bool committing() const ABSL_LOCKS_EXCLUDED(mu_);
  storage::TxnStateRecord state() const ABSL_LOCKS_EXCLUDED(mu_);
  ExecuteResult Result() const ABSL_LOCKS_EXCLUDED(mu_);

  // Branches that still need the decision: not acknowledged, and not refused by a NO (those
  // participants recorded the abort themselves).
  std::vector<uint32_t> BranchesToDeliver() const ABSL_LOCKS_EXCLUDED(mu_);
  // True when this acknowledgement was the last one needed.
  bool RecordAck(uint32_t branch) ABSL_LOCKS_EXCLUDED(mu_);
  void RecordDeliveryFailure(uint32_t branch, const absl::Status& error, absl::Time next_retry)
      ABSL_LOCKS_EXCLUDED(mu_);
  uint32_t DeliveryAttempts(uint32_t branch) const ABSL_LOCKS_EXCLUDED(mu_);
  // Drops the branch payloads from memory once decided: Commit and Abort do not carry them, and
  // a transaction waiting for a participant that is down should cost little. The logged
  // decision keeps them. Idempotent.
  void ShedPayloads() ABSL_LOCKS_EXCLUDED(mu_);
  bool payloads_shed() const ABSL_LOCKS_EXCLUDED(mu_);
  // The terminal record (COMMITTED / ABORTED), to move to the finished set.
  storage::TxnRecord FinishRecord(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  // Every waiter left; the transaction is terminal.
  std::vector<ExecuteDone> TakeWaiters() ABSL_LOCKS_EXCLUDED(mu_);

  // Decided but not acknowledged everywhere.
  bool InDoubt() const ABSL_LOCKS_EXCLUDED(mu_);
  // In doubt for longer than `stuck_after` since the decision.
  bool Stuck(absl::Time now, absl::Duration stuck_after) const ABSL_LOCKS_EXCLUDED(mu_);
  TxnSnapshot Snapshot(absl::Time now, absl::Duration stuck_after) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Waiter {
    bool wait_for_acks;
    ExecuteDone done;
  };
  bool AllAckedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool DecidedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool TerminalLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ExecuteResult ResultLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool StuckLocked(absl::Time now, absl::Duration stuck_after) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Const after construction.
  const std::string id_;
  const std::string key_;
  const int mode_;
  const absl::Time begin_;
  const std::vector<std::string> participants_;

  mutable absl::Mutex mu_;
  storage::TxnRecord record_ ABSL_GUARDED_BY(mu_);
  bool decision_started_ ABSL_GUARDED_BY(mu_) = false;
  bool decide_commit_ ABSL_GUARDED_BY(mu_) = false;
  bool payloads_shed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<BranchDelivery> delivery_ ABSL_GUARDED_BY(mu_);
  std::vector<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_TRANSACTION_H_
