#ifndef SETTLE_SERVER_ENGINE_COORDINATOR_H_
#define SETTLE_SERVER_ENGINE_COORDINATOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine/clock.h"
#include "server/engine/metrics.h"
#include "server/engine/registry.h"
#include "server/engine/retry_policy.h"
#include "server/engine/scheduler.h"
#include "server/engine/transaction.h"
#include "storage/txn_log.h"

namespace settle::engine {

struct CoordinatorOptions {
  std::string shard = "s0";  // Prefix of every transaction id this coordinator makes.
  absl::Duration max_txn_timeout = absl::Minutes(5);
  absl::Duration delivery_rpc_timeout = absl::Seconds(5);  // Each Commit / Abort attempt.
  absl::Duration stuck_after = absl::Minutes(1);
  absl::Duration retention = absl::Hours(24 * 7);
  // How often finished transactions past `retention` are looked for. A sweep removes them in
  // small batches, one write each, so Execute's log writes interleave with it.
  absl::Duration retention_sweep_interval = absl::Minutes(1);
  // Transactions still being decided (PREPARING) beyond which Execute answers
  // RESOURCE_EXHAUSTED. Decided transactions waiting to reach a participant do not count.
  int max_in_flight = 10000;
  int max_branches = 16;
  size_t max_payload_bytes = 64 * 1024;
  size_t max_key_bytes = 256;
  RetryOptions retry;
  // Test-only crash point: runs after a COMMIT record is durable and before any Commit is sent.
  // Fault tests make it kill the process there. Unset in every normal configuration.
  std::function<void(const std::string& txn_id)> on_commit_logged_ForTest;
};

struct BranchSpec {
  std::string participant;
  std::string payload;
};

struct ExecuteParams {
  std::string idempotency_key;
  std::vector<BranchSpec> branches;
  absl::Duration timeout = absl::ZeroDuration();
  int mode = 1;  // settle.v1.Mode number; 0 means TWO_PHASE.
  bool wait_for_acks = false;
};

struct ListParams {
  std::vector<storage::TxnStateRecord> states;  // Empty: any.
  absl::Time begin_after = absl::InfinitePast();
  absl::Time begin_before = absl::InfiniteFuture();
  std::string participant;
  int page_size = 100;
  std::string page_token;
};

struct ListResult {
  std::vector<TxnSnapshot> transactions;
  std::string next_page_token;
};

enum class Decision { kCommit, kAbort, kUndecided };

// The two-phase-commit engine: runs transactions, answers queries, finishes what a crash left
// behind. It reaches the world only through its constructor's seams (log, registry and its
// channels, scheduler, clock), never through gRPC or RocksDB directly.
//
// Thread-safe. Nothing here blocks on I/O: durable writes go through the log's group-commit
// writer and participant calls are asynchronous; callbacks run on the log writer, the
// scheduler or the channel's threads. Everything passed to the constructor must outlive it.
// Shut down with Stop() before destroying the scheduler and the log.
class Coordinator final {
 public:
  Coordinator(CoordinatorOptions options, storage::TxnLog& log, Registry& registry,
              Scheduler& scheduler, const Clock& clock, Metrics* metrics);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Start-up: reloads active transactions and resumes them (COMMITTING -> Commit again;
  // PREPARING -> ABORT; ABORTING -> Abort again) and starts the background sweeps. Until it
  // returns, Execute answers UNAVAILABLE; GetDecision is served throughout. DATA_LOSS if the
  // log is damaged.
  absl::Status Recover() ABSL_LOCKS_EXCLUDED(mu_);

  // Runs one transaction; `done` runs exactly once, on any thread (possibly this one) with the
  // outcome, or: INVALID_ARGUMENT (bad field), NOT_FOUND (unknown participant),
  // RESOURCE_EXHAUSTED (too large, or too many in flight), ALREADY_EXISTS (key reused with
  // another body), UNIMPLEMENTED (mode not supported yet), UNAVAILABLE (log cannot be written,
  // or stopping).
  void Execute(ExecuteParams params, ExecuteDone done) ABSL_LOCKS_EXCLUDED(mu_);

  // NOT_FOUND if unknown or past retention.
  absl::StatusOr<TxnSnapshot> GetTransaction(const std::string& txn_id) const
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<TxnSnapshot> GetTransactionByKey(const std::string& key) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // INVALID_ARGUMENT for a bad page size or token.
  absl::StatusOr<ListResult> List(const ListParams& params) const ABSL_LOCKS_EXCLUDED(mu_);

  // Operator abort of an undecided transaction. NOT_FOUND if unknown, FAILED_PRECONDITION if
  // already decided.
  absl::StatusOr<TxnSnapshot> Abort(const std::string& txn_id, const std::string& reason)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Presumed abort: an unknown transaction is kAbort. UNAVAILABLE if the log cannot be read.
  absl::StatusOr<Decision> GetDecision(const std::string& txn_id) const ABSL_LOCKS_EXCLUDED(mu_);

  // Registry operations that need the active set. `done` as Registry's.
  void Deregister(const std::string& name, std::function<void(absl::Status)> done)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Stops starting new work and waits for calls in flight to participants to end (bounded by
  // their deadlines). After it, callbacks from the log or the scheduler do nothing.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Active transactions in memory (for gauges and tests).
  size_t ActiveCount() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using TxnPtr = std::shared_ptr<Transaction>;

  absl::Status Validate(const ExecuteParams& params) const;
  // nullopt while the next id is not below the reserved ceiling (the log cannot be written,
  // or the clock jumped ahead of the last reservation).
  std::optional<std::string> NextTxnIdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes a new id ceiling ahead of the counter (synced), unless one is being written.
  void ReserveIds() ABSL_LOCKS_EXCLUDED(mu_);
  TxnPtr FindActive(const std::string& txn_id) const ABSL_LOCKS_EXCLUDED(mu_);
  void Join(const TxnPtr& txn, const storage::TxnRecord& asked, bool wait_for_acks,
            bool replayed, const ExecuteDone& done);
  void ReplayFinished(const storage::TxnRecord& rec, const storage::TxnRecord& asked,
                      const ExecuteDone& done);

  static void OnBeginLogged(const TxnPtr& txn, absl::Status status);
  void SendPrepares(const TxnPtr& txn);
  void OnVote(const TxnPtr& txn, uint32_t branch, absl::Time sent,
              const absl::StatusOr<VoteResult>& vote);
  void LogDecision(const TxnPtr& txn);
  void OnDecisionLogged(const TxnPtr& txn, bool commit, absl::Status status);
  void LogForcedAbort(const TxnPtr& txn);
  void DecisionApplied(const TxnPtr& txn);
  void Deliver(const TxnPtr& txn, uint32_t branch);
  void OnDelivered(const TxnPtr& txn, uint32_t branch, absl::Time sent, absl::Status status);
  // Schedules the next attempt of an undelivered decision, at the capped backoff.
  void RetryDelivery(const TxnPtr& txn, uint32_t branch, const absl::Status& status,
                     absl::Time now);
  void FinishTxn(const TxnPtr& txn);
  void Forget(const TxnPtr& txn) ABSL_LOCKS_EXCLUDED(mu_);
  void Complete(std::vector<ExecuteDone> waiters, const ExecuteResult& result);
  void Fail(std::vector<ExecuteDone> waiters, const absl::Status& status);

  void ScheduleSweeps();
  void ScheduleGauges();
  void ScheduleRetention(absl::Duration delay);
  void ScheduleIdReservation();
  void UpdateGauges() ABSL_LOCKS_EXCLUDED(mu_);
  // Removes one batch; true if it was full (more are due).
  bool SweepRetention() ABSL_LOCKS_EXCLUDED(retention_mu_);

  bool stopping() const ABSL_LOCKS_EXCLUDED(mu_);
  void RpcStarted() ABSL_LOCKS_EXCLUDED(mu_);
  void RpcEnded() ABSL_LOCKS_EXCLUDED(mu_);

  const CoordinatorOptions options_;
  storage::TxnLog& log_;
  Registry& registry_;
  Scheduler& scheduler_;
  const Clock& clock_;
  Metrics* const metrics_;  // May be null (tests).
  RetryPolicy retry_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, TxnPtr> active_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, TxnPtr> by_key_ ABSL_GUARDED_BY(mu_);
  uint64_t last_id_counter_ ABSL_GUARDED_BY(mu_) = 0;
  // Ids are issued only below a ceiling already durable in the log (see ReserveIds).
  uint64_t id_ceiling_ ABSL_GUARDED_BY(mu_) = 0;
  bool reserving_ids_ ABSL_GUARDED_BY(mu_) = false;
  int rpcs_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // Active transactions whose decision is not yet applied: what --max_in_flight bounds.
  int deciding_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set once Recover() has loaded and resumed the active transactions; Execute waits for it.
  // Release/acquire: an Execute that sees it also sees the loaded active set.
  std::atomic<bool> recovered_{false};
  absl::Mutex retention_mu_;  // Serialises sweeps.
  std::string retention_cursor_ ABSL_GUARDED_BY(retention_mu_);  // Where the next one starts.
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_COORDINATOR_H_
