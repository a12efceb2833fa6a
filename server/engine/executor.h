#ifndef SETTLE_SERVER_ENGINE_EXECUTOR_H_
#define SETTLE_SERVER_ENGINE_EXECUTOR_H_

#include <atomic>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine/active_set.h"
#include "server/engine/clock.h"
#include "server/engine/metrics.h"
#include "server/engine/protocol.h"
#include "server/engine/registry.h"
#include "server/engine/retry_policy.h"
#include "server/engine/scheduler.h"
#include "server/engine/transaction.h"
#include "storage/decision_log.h"

namespace settle::engine {

struct ExecutorOptions {
  absl::Duration delivery_rpc_timeout = absl::Seconds(5);  // Each Commit / Abort / step call.
  // Calls in flight to one participant beyond which no more are made.
  int max_calls_per_participant = 1000;
  RetryOptions retry;
  // See CoordinatorOptions::at_point_ForTest.
  std::function<void(const std::string& txn_id, const std::string& point)> at_point_ForTest;
};

// Carries out what protocols ask (protocol.h): feeds a transaction's protocol one event at a
// time, writes the records it asks for, makes the calls to participants, feeds the answers and
// written records back as events, and answers the callers. It is the one place that sends and
// writes for a transaction (Kudu's TxnStatusManager hands its CommitTasks the same way), and it
// never asks which mode a transaction runs; the front door (Coordinator) decides what starts.
//
// Thread-safe. Nothing blocks on I/O: callbacks run on the log writer, the scheduler or the
// channels' threads. Everything passed to the constructor must outlive it; Stop() before the
// scheduler and the log go.
class Executor final {
 public:
  Executor(ExecutorOptions options, storage::DecisionLog& log, Registry& registry,
           Scheduler& scheduler, const Clock& clock, Metrics* metrics, ActiveSet& active);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs one event on `txn`'s protocol and carries out what it returns.
  void Drive(const TxnPtr& txn, const std::function<Actions(Protocol&)>& event);
  // Carries out a step already taken (an operator's command).
  void Run(const TxnPtr& txn, Step step);

  // RESOURCE_EXHAUSTED naming the participant and the flag when it has no room for a call.
  absl::Status CheckCallRoom(const std::string& participant) const ABSL_LOCKS_EXCLUDED(mu_);
  // Calls to `participant` made and not yet answered (the console's participants page).
  int CallsInFlight(const std::string& participant) const ABSL_LOCKS_EXCLUDED(mu_);

  // No event is run and no call made once it returns; waits for the calls in flight to end
  // (bounded by their deadlines). Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

 private:
  void Write(const TxnPtr& txn, WriteAction write);
  // `state`: the state the written record carries.
  void OnWritten(const TxnPtr& txn, RecordKind kind, storage::TxnStateRecord state,
                 absl::Status status);
  void Send(const TxnPtr& txn, SendAction send);
  void Call(const TxnPtr& txn, uint32_t branch, Phase phase);
  // `reached`: the call was made (false: refused here, nothing to count against the participant).
  void OnAnswer(const TxnPtr& txn, uint32_t branch, Phase phase, absl::Time sent, Answer answer,
                bool reached = true);

  // False (and nothing counted) when stopping or when `participant` has
  // --max_calls_per_participant calls in flight.
  bool RpcStarted(const std::string& participant) ABSL_LOCKS_EXCLUDED(mu_);
  void RpcEnded(const std::string& participant) ABSL_LOCKS_EXCLUDED(mu_);

  const ExecutorOptions options_;
  storage::DecisionLog& log_;
  Registry& registry_;
  Scheduler& scheduler_;
  const Clock& clock_;
  Metrics* const metrics_;  // May be null (tests).
  ActiveSet& active_;
  RetryPolicy retry_;

  // Read on every event without a lock; set under mu_ so RpcStarted and Stop agree.
  std::atomic<bool> stopping_{false};
  mutable absl::Mutex mu_;
  int rpcs_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, int> calls_in_flight_ ABSL_GUARDED_BY(mu_);  // By participant.
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_EXECUTOR_H_
