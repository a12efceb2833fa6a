#ifndef SETTLE_SERVER_ENGINE_TRANSACTION_H_
#define SETTLE_SERVER_ENGINE_TRANSACTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine/participant_channel.h"
#include "server/engine/protocol.h"
#include "storage/records.pb.h"

namespace settle::engine {

using ExecuteDone = std::function<void(absl::StatusOr<ExecuteResult>)>;

// Calls to one branch that carry a decided outcome, for queries.
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

// What the coordinator does after one event: the protocol's actions, and the callers they answer.
struct Step {
  Actions actions;
  std::vector<ExecuteDone> to_fail;     // Told actions.fail_callers.
  std::vector<ExecuteDone> to_answer;   // Told `result` (decided, or finished).
  ExecuteResult result;
};

// The driver of one active transaction (Kudu's CommitTasks, in our terms): its protocol, the
// callers waiting for it and what delivery has cost so far. Every event goes through Apply, one
// at a time, so a protocol never sees two at once; the coordinator runs the returned actions
// after the lock is released.
//
// Thread-safe: every method takes the transaction's own lock and nothing else, so it may be
// called with the coordinator's lock held (that order only: coordinator, then transaction).
class Transaction final {
 public:
  explicit Transaction(std::unique_ptr<Protocol> protocol);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Const after construction.
  const std::string& id() const { return id_; }
  const std::string& key() const { return key_; }
  Mode mode() const { return mode_; }
  size_t branch_count() const { return participants_.size(); }
  const std::string& participant(uint32_t branch) const { return participants_[branch]; }
  absl::Time begin_time() const { return begin_; }

  // Runs one event. The callers its actions answer are taken out of the waiting list in the
  // same critical section, so a caller that joins concurrently is answered exactly once.
  Step Apply(const std::function<Actions(Protocol&)>& event) ABSL_LOCKS_EXCLUDED(mu_);
  // An operator's command, which the protocol may refuse.
  absl::StatusOr<Step> ApplyOperator(
      const std::function<absl::StatusOr<Actions>(Protocol&)>& command) ABSL_LOCKS_EXCLUDED(mu_);
  // True the first time only: the transaction stops counting as being decided.
  bool MarkNoLongerDeciding() ABSL_LOCKS_EXCLUDED(mu_);
  bool NeedsAttention() const ABSL_LOCKS_EXCLUDED(mu_);

  // True if `other` asks for the same work (mode, participants and payloads); nullopt once the
  // payloads were shed and only participants and mode could be compared (read the log).
  std::optional<bool> SameBody(const storage::TxnRecord& other) const ABSL_LOCKS_EXCLUDED(mu_);
  // Queues `done` for the outcome (or for every acknowledgement with `wait_for_acks`), or
  // returns the result now if it is already known. `replayed` marks a repeated key.
  std::optional<ExecuteResult> AddWaiter(bool wait_for_acks, bool replayed, ExecuteDone done)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The Prepare call for one branch: its payload, the transaction's deadline and, for
  // three-phase commit, the bound (the coordinator adds the peers).
  PrepareCall PrepareCallFor(uint32_t branch) const ABSL_LOCKS_EXCLUDED(mu_);

  // Delivery bookkeeping for queries and backoff.
  void RecordAnswered(uint32_t branch) ABSL_LOCKS_EXCLUDED(mu_);
  // Counts a failed call and returns the attempt number of the retry to come (1 = first).
  int RecordDeliveryFailure(uint32_t branch, const absl::Status& error) ABSL_LOCKS_EXCLUDED(mu_);
  void SetNextRetry(uint32_t branch, absl::Time at) ABSL_LOCKS_EXCLUDED(mu_);
  uint32_t DeliveryAttempts(uint32_t branch) const ABSL_LOCKS_EXCLUDED(mu_);

  // Drops the branch payloads from memory once no call needs them: a transaction waiting for a
  // participant that is down should cost little. The log keeps them. Idempotent.
  void ShedPayloadsIfUnneeded() ABSL_LOCKS_EXCLUDED(mu_);
  bool payloads_shed() const ABSL_LOCKS_EXCLUDED(mu_);

  storage::TxnStateRecord state() const ABSL_LOCKS_EXCLUDED(mu_);
  Decision decision() const ABSL_LOCKS_EXCLUDED(mu_);
  ExecuteResult Result() const ABSL_LOCKS_EXCLUDED(mu_);
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
  Step TakeCallers(Actions actions) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool StuckLocked(absl::Time now, absl::Duration stuck_after) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string id_;
  const std::string key_;
  const Mode mode_;
  const absl::Time begin_;
  const absl::Time deadline_;
  const std::vector<std::string> participants_;

  mutable absl::Mutex mu_;
  std::unique_ptr<Protocol> protocol_ ABSL_GUARDED_BY(mu_);
  std::vector<BranchDelivery> delivery_ ABSL_GUARDED_BY(mu_);
  std::vector<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  bool deciding_ ABSL_GUARDED_BY(mu_) = true;
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_TRANSACTION_H_
