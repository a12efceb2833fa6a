#ifndef SETTLE_SERVER_ENGINE_COORDINATOR_H_
#define SETTLE_SERVER_ENGINE_COORDINATOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/engine/active_set.h"
#include "server/engine/clock.h"
#include "server/engine/executor.h"
#include "server/engine/housekeeping.h"
#include "server/engine/id_allocator.h"
#include "server/engine/metrics.h"
#include "server/engine/previous_owners.h"
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
  // Shards of the deployment (common/shard_map.h); `shard` is then s<index>. Execute and
  // lookups by key answer FAILED_PRECONDITION for a key another shard owns, so a client with a
  // wrong shard list cannot run a key twice. 0: unsharded, every key is taken.
  int shard_count = 0;
  // While the number of shards changes: the count before (README, "Changing the number of
  // shards"). A key this shard owns now but another owned then is first asked of that one
  // (PreviousOwners) and admitted here only if it is unknown there. 0: no change under way.
  int previous_shard_count = 0;
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

struct ExecuteParams {
  std::string idempotency_key;
  std::vector<BranchSpec> branches;
  absl::Duration timeout = absl::ZeroDuration();
  Mode mode = Mode::kTwoPhase;
  bool wait_for_acks = false;
  // Answer a key this shard knows; admit nothing (PreviousOwners): NOT_FOUND for a key that is
  // unknown here and that this shard does not own, UNAVAILABLE for one it owns.
  bool only_if_known = false;
};

// The engine's front door: admits transactions (validation, idempotency keys, capacity), answers
// queries, takes operators' commands and finishes what a crash left behind. Each transaction's
// protocol (protocol.h, built from the mode table in modes.h) is run by the Executor it owns
// (executor.h), which writes, sends and answers; neither ever asks which mode a transaction
// runs. It owns the active set; ids, queries and the periodic chores are classes of their own.
// It reaches the world only through its constructor's seams (log, registry and its channels,
// scheduler, clock, and the previous owners while the number of shards changes), never through
// gRPC or RocksDB directly.
//
// Thread-safe. Nothing here blocks on I/O: durable writes go through the log's group-commit
// writer and participant calls are asynchronous; callbacks run on the log writer, the
// scheduler or the channel's threads. Everything passed to the constructor must outlive it.
// Shut down with Stop() before destroying the scheduler and the log.
class Coordinator final {
 public:
  // `previous_owners` is needed with options.previous_shard_count (else may be null).
  Coordinator(CoordinatorOptions options, storage::DecisionLog& log, Registry& registry,
              Scheduler& scheduler, const Clock& clock, Metrics* metrics,
              PreviousOwners* previous_owners = nullptr);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Start-up: reloads active transactions and resumes each through its protocol (for two-phase
  // commit: COMMITTING -> Commit again; PREPARING -> ABORT; ABORTING -> Abort again) and starts
  // the background chores. Until it returns, Execute answers UNAVAILABLE; GetDecision is
  // served throughout. DATA_LOSS if the log is damaged; FAILED_PRECONDITION, before anything
  // is resumed, if another shard's coordinator wrote it.
  absl::Status Recover();

  // Runs one transaction; `done` runs exactly once, on any thread (possibly this one) with the
  // outcome, or: INVALID_ARGUMENT (bad field), NOT_FOUND (unknown participant),
  // RESOURCE_EXHAUSTED (too large, too many in flight, or a participant with
  // --max_calls_per_participant calls in flight), ALREADY_EXISTS (key reused with another
  // body), FAILED_PRECONDITION (a new key of another shard; a known key is answered whoever
  // owns it now), UNIMPLEMENTED (mode not run here yet), UNAVAILABLE (log cannot be written, a
  // participant taken for down, stopping, a new key while draining, or the key's previous
  // owner cannot say whether it knows the key).
  void Execute(ExecuteParams params, ExecuteDone done);

  // Every call about one transaction id (GetTransaction, Abort, RetryParked, Resolve,
  // GetDecision) answers FAILED_PRECONDITION naming both shards for an id of another shard:
  // only its own shard knows it, and a presumed abort here could contradict a commit there.

  // NOT_FOUND if unknown or past retention.
  absl::StatusOr<TxnSnapshot> GetTransaction(const std::string& txn_id) const;
  absl::StatusOr<TxnSnapshot> GetTransactionByKey(const std::string& key) const;
  // INVALID_ARGUMENT for a bad page size or token.
  absl::StatusOr<ListResult> List(const ListParams& params) const;

  // Operator abort of an undecided transaction. NOT_FOUND if unknown, FAILED_PRECONDITION if
  // already decided.
  absl::StatusOr<TxnSnapshot> Abort(const std::string& txn_id, const std::string& reason);

  // A parked saga (it needs attention): try its failed compensations again, or mark it resolved
  // by hand with a reason. Both are logged with `who` and the time. NOT_FOUND if unknown,
  // FAILED_PRECONDITION if it is not parked, INVALID_ARGUMENT without a reason to resolve.
  absl::StatusOr<TxnSnapshot> RetryParked(const std::string& txn_id, const std::string& who,
                                          const std::string& reason);
  absl::StatusOr<TxnSnapshot> Resolve(const std::string& txn_id, const std::string& who,
                                      const std::string& reason);

  // Presumed abort: an unknown transaction is kAbort. UNAVAILABLE if the log cannot be read.
  absl::StatusOr<Decision> GetDecision(const std::string& txn_id) const;

  // Scale-down: stop admitting new keys for good (Execute of a key not seen before answers
  // UNAVAILABLE naming the shard; repeats of known keys are still answered), and report what
  // is left. The shard is empty once every transaction it began has finished or is parked
  // for an operator. `start` false only reports. Kept in memory: a restarted shard admits again.
  struct DrainReport {
    bool draining = false;
    int64_t unfinished = 0;  // Not yet terminal, parked ones included.
    int64_t parked = 0;      // Waiting for an operator (they keep nothing in doubt).
  };
  DrainReport Drain(bool start);
  const std::string& shard() const { return options_.shard; }

  // Registry operations that need the active set. `done` as Registry's.
  void Deregister(const std::string& name, std::function<void(absl::Status)> done);

  // Stops starting new work and waits for calls in flight to participants to end (bounded by
  // their deadlines). After it, callbacks from the log or the scheduler do nothing.
  void Stop();

  // Calls to `participant` made and not yet answered. Thread-safe.
  int CallsInFlight(const std::string& participant) const {
    return executor_.CallsInFlight(participant);
  }

  // Active transactions in memory (for gauges and tests).
  size_t ActiveCount() const;
  // Sets the gauges (in flight, in doubt, stuck, needing attention, participant health) from
  // the state now. Called before each scrape, so they never lag. Thread-safe.
  void RefreshGauges() { housekeeping_.UpdateGauges(); }
  // The console's figures: the last minutes of Execute, up to now (empty without metrics),
  // and the active transactions now. Thread-safe.
  struct Figures {
    std::vector<FigureInterval> intervals;
    Housekeeping::Counts now;
  };
  Figures GetFigures() const { return {housekeeping_.Figures(), housekeeping_.CountActive()}; }

 private:
  // The request's own form: key, branches, timeout, mode's steps, payload sizes, names.
  absl::Status Validate(const ExecuteParams& params) const;
  // What a new payment needs of the registry: each participant known, and reachable by its
  // peers where the mode needs that.
  absl::Status ValidateParticipants(const storage::TxnRecord& asked) const;
  // Answers `asked` if its key is known here (active or finished); false if it is not.
  bool AnswerKnownKey(const storage::TxnRecord& asked, bool wait_for_acks,
                      const ExecuteDone& reply);
  // A key known nowhere: registry, capacity, then it begins.
  void Admit(storage::TxnRecord asked, absl::Duration timeout, bool wait_for_acks, absl::Time start,
             ExecuteDone reply);
  // The shard that owned `key` before the number of shards changed, when that is not this one
  // and this one owns it now; nullopt otherwise.
  std::optional<int> PreviousOwnerOf(const std::string& key) const;
  // FAILED_PRECONDITION for a well-formed id of another shard.
  absl::Status CheckShard(const std::string& txn_id) const;
  // FAILED_PRECONDITION for a key another shard owns (with options_.shard_count set).
  absl::Status CheckKeyShard(const std::string& key) const;
  void Join(const TxnPtr& txn, const storage::TxnRecord& asked, bool wait_for_acks,
            bool replayed, const ExecuteDone& done);
  void ReplayFinished(const storage::TxnRecord& rec, const storage::TxnRecord& asked,
                      const ExecuteDone& done);

  // An operator's command on an active transaction, logged with who and why.
  absl::StatusOr<TxnSnapshot> Operate(
      const std::string& txn_id, const char* action, const std::string& who,
      const std::string& reason,
      const std::function<absl::StatusOr<Actions>(Protocol&, absl::Time)>& command);

  const CoordinatorOptions options_;
  storage::DecisionLog& log_;
  Registry& registry_;
  const Clock& clock_;
  Metrics* const metrics_;  // May be null (tests).
  PreviousOwners* const previous_owners_;  // Null unless the number of shards changes.
  ActiveSet active_;
  IdAllocator ids_;
  TxnQueries queries_;
  Housekeeping housekeeping_;
  Executor executor_;  // After active_, which it uses.
  // Set once Recover() has loaded and resumed the active transactions; Execute waits for it.
  // Release/acquire: an Execute that sees it also sees the loaded active set.
  std::atomic<bool> recovered_{false};
  std::atomic<bool> draining_{false};
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_COORDINATOR_H_
