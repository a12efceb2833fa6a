#ifndef SETTLE_CLIENT_PARTICIPANT_SERVER_H_
#define SETTLE_CLIENT_PARTICIPANT_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/branch_handler.h"
#include "client/decision_source.h"
#include "client/participant_metrics.h"
#include "common/credentials.h"
#include "settle/v1/coordinator.grpc.pb.h"
#include "settle/v1/participant.grpc.pb.h"
#include "storage/branch_store.h"

namespace settle::sdk {
namespace internal {
class ParticipantService;
class ThreePhaseTimers;
}  // namespace internal

// The SDK's time: when a Prepare is past its deadline, and the times barrier records carry.
// Thread-safe; called from the store's threads.
using Clock = std::function<absl::Time()>;

struct ParticipantOptions {
  // Coordinator to ask GetDecision when a branch stays prepared, or its shards (a list or a
  // pattern, common/shard_map.h); empty disables the timer.
  std::string coordinator_endpoint;
  // Where the in-doubt resolver asks instead (a test's fake); null: the coordinator above. Must
  // outlive the server.
  DecisionSource* decisions = nullptr;
  // The clock of every unit of work (a test's manual one); absl::Now by default.
  Clock clock = [] { return absl::Now(); };
  absl::Duration in_doubt_after = absl::Seconds(10);
  absl::Duration in_doubt_check_interval = absl::Seconds(2);
  // Finished (committed or aborted) barrier records are removed this long after their last
  // change, so the store does not grow forever. It must exceed the longest a duplicate message
  // can arrive late; a late Prepare is refused by its deadline anyway.
  absl::Duration barrier_retention = absl::Hours(24 * 7);
  absl::Duration barrier_sweep_interval = absl::Minutes(1);
  // How often three-phase branches' timers are checked (their bound comes with each Prepare).
  absl::Duration three_phase_check_interval = absl::Milliseconds(100);
  // Where to count what happens; may be null. Must outlive the server.
  ParticipantMetrics* metrics = nullptr;
  // Saga steps; null: Act and Compensate answer UNIMPLEMENTED. Must outlive the server.
  SagaHandler* saga = nullptr;
  // Credentials of the calls this participant makes (GetDecision, three-phase peers): TLS when
  // it has a CA. The server's own credentials are the caller's ServerBuilder's.
  TlsOptions tls;
  // The name the coordinator registers this service under. A Prepare, Act or Compensate naming
  // another participant is refused (FAILED_PRECONDITION): a registration pointing here by
  // mistake must not run another service's payload. Empty: not checked; a call naming no
  // participant is taken as meant here.
  std::string name;
};

// Serves settle.v1.Participant (and ParticipantInspect) for a BranchHandler over a
// BranchStore. Prepare/Commit/Abort are idempotent per (txn_id, branch_id); an Abort before any
// Prepare leaves a tombstone so a late Prepare votes NO; a branch left prepared longer than
// `in_doubt_after` is resolved by asking the coordinator; finished barrier records are removed
// after `barrier_retention`. Three-phase commit's branches (MODE_THREE_PHASE) run the same
// BranchHandler: the SDK adds PreCommit, the timers and the termination protocol with the
// other branches (client/three_phase.h), so a service's code does not change.
//
// Thread-safe. `store` and `handler` must outlive it. Register both services with a
// grpc::ServerBuilder, then call StartBackgroundWork(); destroy after the server has shut down.
class ParticipantServer final {
 public:
  ParticipantServer(ParticipantOptions options, storage::BranchStore& store,
                    BranchHandler& handler);
  ~ParticipantServer();
  ParticipantServer(const ParticipantServer&) = delete;
  ParticipantServer& operator=(const ParticipantServer&) = delete;

  grpc::Service* participant_service();
  grpc::Service* inspect_service();

  // One call of the Participant service from another transport (AmqpParticipantServer): the
  // method's name ("Prepare", ...) and its serialized request. `done` runs once, on any
  // thread, with the status and, with OK, the serialized response. The same code and result
  // contract as over gRPC.
  void ServeCall(const std::string& method, const std::string& request,
                 std::function<void(absl::Status, std::string)> done);

  // Starts the one background thread: in-doubt resolution (when there is a coordinator to
  // ask), three-phase timers and the barrier sweep.
  void StartBackgroundWork() ABSL_LOCKS_EXCLUDED(mu_);

  // Resolves every branch prepared before `now - in_doubt_after` by asking the decision source.
  // Blocks on RPCs: runs on the background thread (or a test's, which passes a future `now`).
  // Returns how many were resolved.
  int ResolveInDoubtOnce(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // Removes up to `max` finished barrier records last changed before `now - barrier_retention`
  // (prepared ones stay whatever their age). Returns how many it removed; `max` means more may
  // be due. Blocks on the store's writer: runs on the background thread (or a test's, which
  // passes a future `now`).
  absl::StatusOr<int> SweepBarriersOnce(absl::Time now, int max) ABSL_LOCKS_EXCLUDED(mu_);

  // Runs the termination protocol for every three-phase branch whose timer ran out by `now`.
  // Blocks on RPCs to the other branches: background thread (or a test's). Returns how many
  // branches it finished.
  int TerminateDueOnce(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void BackgroundLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Commits or aborts one branch as decided (timers, resolver) and waits until it is durable.
  absl::Status Decide(const std::string& txn_id, uint32_t branch, bool commit);

  const ParticipantOptions options_;
  storage::BranchStore& store_;
  BranchHandler& handler_;
  std::unique_ptr<internal::ParticipantService> participant_impl_;
  std::unique_ptr<grpc::Service> inspect_impl_;
  // Of the calls it makes; one set (one certificate watcher) for all of them.
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::unique_ptr<DecisionSource> own_decisions_;  // When options_.decisions is null.
  DecisionSource* decisions_;                      // Null: nothing to ask.
  std::unique_ptr<internal::ThreePhaseTimers> timers_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread background_;
};

// Key of a branch's barrier record: "<txn_id>/<branch_id, 5 digits>".
std::string BarrierKey(const std::string& txn_id, uint32_t branch_id);

}  // namespace settle::sdk

#endif  // SETTLE_CLIENT_PARTICIPANT_SERVER_H_
