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
#include "server/engine/active_set.h"
#include "server/engine/clock.h"
#include "server/engine/housekeeping.h"
#include "server/engine/id_allocator.h"
#include "server/engine/metrics.h"
#include "server/engine/protocol.h"
#include "server/engine/registry.h"
#include "server/engine/retry_policy.h"
#include "server/engine/scheduler.h"
#include "server/engine/transaction.h"
#include "server/engine/txn_queries.h"
#include "storage/decision_log.h"

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
  // Calls in flight to one participant beyond which no more are made: a new payment that needs
  // it is refused (RESOURCE_EXHAUSTED), a decided outcome's call waits its backoff.
  int max_calls_per_participant = 1000;
  int max_branches = 16;
  size_t max_payload_bytes = 64 * 1024;
  size_t max_key_bytes = 256;
  RetryOptions retry;
  ProtocolOptions protocol;
  // Test-only crash points: runs at each point of a transaction's protocol: "logged:<state>"
  // once a record is durable and before anything it allows is sent ("logged:committing"), and
  // "send:<Phase>:<branch>" before a call goes out ("send:PreCommit:1"). Fault tests make it
  // kill the process at one of them. Unset in every normal configuration.
  std::function<void(const std::string& txn_id, const std::string& point)> at_point_ForTest;
};

struct BranchSpec {
  std::string participant;
  std::string payload;
  uint32_t step = 0;  // MODE_SAGA: the step it runs in (0, 1, 2...); 0 for other modes.
};

struct ExecuteParams {
  std::string idempotency_key;
  std::vector<BranchSpec> branches;
  absl::Duration timeout = absl::ZeroDuration();
  Mode mode = Mode::kTwoPhase;
  bool wait_for_acks = false;
};

// The engine: runs transactions, answers queries, finishes what a crash left behind. It is the
// executor of each transaction's protocol (protocol.h): it feeds a protocol its events (started,
// answered, written, resumed, operator abort) and carries out the actions it returns (log
// writes, calls to participants, answers to callers), never asking which mode a transaction
// runs. It owns the active set; ids, queries and the periodic chores are classes of their own.
// It reaches the world only through its constructor's seams (log, registry and its channels,
// scheduler, clock), never through gRPC or RocksDB directly.
//
// Thread-safe. Nothing here blocks on I/O: durable writes go through the log's group-commit
// writer and participant calls are asynchronous; callbacks run on the log writer, the
// scheduler or the channel's threads. Everything passed to the constructor must outlive it.
// Shut down with Stop() before destroying the scheduler and the log.
class Coordinator final {
 public:
  Coordinator(CoordinatorOptions options, storage::DecisionLog& log, Registry& registry,
              Scheduler& scheduler, const Clock& clock, Metrics* metrics);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Start-up: reloads active transactions and resumes each through its protocol (for two-phase
  // commit: COMMITTING -> Commit again; PREPARING -> ABORT; ABORTING -> Abort again) and starts
  // the background chores. Until it
  // returns, Execute answers UNAVAILABLE; GetDecision is served throughout. DATA_LOSS if the
  // log is damaged.
  absl::Status Recover() ABSL_LOCKS_EXCLUDED(mu_);

  // Runs one transaction; `done` runs exactly once, on any thread (possibly this one) with the
  // outcome, or: INVALID_ARGUMENT (bad field), NOT_FOUND (unknown participant),
  // RESOURCE_EXHAUSTED (too large, too many in flight, or a participant with
  // --max_calls_per_participant calls in flight), ALREADY_EXISTS (key reused with another
  // body), UNIMPLEMENTED (mode not run here yet), UNAVAILABLE (log cannot be written, a
  // participant taken for down, or stopping).
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

  // A parked saga (it needs attention): try its failed compensations again, or mark it resolved
  // by hand with a reason. Both are logged with `who` and the time. NOT_FOUND if unknown,
  // FAILED_PRECONDITION if it is not parked, INVALID_ARGUMENT without a reason to resolve.
  absl::StatusOr<TxnSnapshot> RetryParked(const std::string& txn_id, const std::string& who,
                                          const std::string& reason) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<TxnSnapshot> Resolve(const std::string& txn_id, const std::string& who,
                                      const std::string& reason) ABSL_LOCKS_EXCLUDED(mu_);

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
  // Sets the gauges (in flight, in doubt, stuck, needing attention, participant health) from
  // the state now. Called before each scrape, so they never lag. Thread-safe.
  void RefreshGauges() { housekeeping_.UpdateGauges(); }

 private:
  absl::Status Validate(const ExecuteParams& params) const;
  static absl::Status ValidateSteps(const ExecuteParams& params);
  void Join(const TxnPtr& txn, const storage::TxnRecord& asked, bool wait_for_acks,
            bool replayed, const ExecuteDone& done);
  void ReplayFinished(const storage::TxnRecord& rec, const storage::TxnRecord& asked,
                      const ExecuteDone& done);

  // An operator's command on an active transaction, logged with who and why.
  absl::StatusOr<TxnSnapshot> Operate(
      const std::string& txn_id, const char* action, const std::string& who,
      const std::string& reason,
      const std::function<absl::StatusOr<Actions>(Protocol&, absl::Time)>& command);
  // Runs one event on `txn`'s protocol and carries out what it returns.
  void Drive(const TxnPtr& txn, const std::function<Actions(Protocol&)>& event);
  void Run(const TxnPtr& txn, Step step);
  void Write(const TxnPtr& txn, WriteAction write);
  // `state`: the state the written record carries.
  void OnWritten(const TxnPtr& txn, RecordKind kind, storage::TxnStateRecord state,
                 absl::Status status);
  void Send(const TxnPtr& txn, SendAction send);
  void Call(const TxnPtr& txn, uint32_t branch, Phase phase);
  // `reached`: the call was made (false: refused here, nothing to count against the participant).
  void OnAnswer(const TxnPtr& txn, uint32_t branch, Phase phase, absl::Time sent, Answer answer,
                bool reached = true);

  bool stopping() const ABSL_LOCKS_EXCLUDED(mu_);
  // False (and nothing counted) when `participant` has --max_calls_per_participant in flight.
  bool RpcStarted(const std::string& participant) ABSL_LOCKS_EXCLUDED(mu_);
  void RpcEnded(const std::string& participant) ABSL_LOCKS_EXCLUDED(mu_);
  // RESOURCE_EXHAUSTED naming the participant and the flag when it has no room for a call.
  absl::Status CheckCallRoom(const std::string& participant) const ABSL_LOCKS_EXCLUDED(mu_);

  const CoordinatorOptions options_;
  storage::DecisionLog& log_;
  Registry& registry_;
  Scheduler& scheduler_;
  const Clock& clock_;
  Metrics* const metrics_;  // May be null (tests).
  RetryPolicy retry_;
  ActiveSet active_;
  IdAllocator ids_;
  TxnQueries queries_;
  Housekeeping housekeeping_;

  mutable absl::Mutex mu_;
  int rpcs_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, int> calls_in_flight_ ABSL_GUARDED_BY(mu_);  // By participant.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set once Recover() has loaded and resumed the active transactions; Execute waits for it.
  // Release/acquire: an Execute that sees it also sees the loaded active set.
  std::atomic<bool> recovered_{false};
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_COORDINATOR_H_
