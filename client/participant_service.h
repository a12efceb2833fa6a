#ifndef SETTLE_CLIENT_PARTICIPANT_SERVICE_H_
#define SETTLE_CLIENT_PARTICIPANT_SERVICE_H_

// Internal to the participant SDK: settle.v1.Participant for one BranchHandler, served over
// gRPC (it is the callback service) and over any other transport through ServeCall (the AMQP
// server, amqp_participant_server.h). Both run the same code: one result contract.

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "client/barrier.h"
#include "client/participant_metrics.h"
#include "client/participant_server.h"
#include "settle/v1/participant.grpc.pb.h"
#include "storage/branch_store.h"

namespace settle::sdk::internal {

// Index of prepared branches in the meta space, so the in-doubt resolver reads only those.
inline constexpr char kPreparedPrefix[] = "p/";

// Commits or aborts one branch at `now`: the unit of work behind Commit, Abort, the three-phase
// timers and the in-doubt resolver. Returns true to keep its writes.
bool DecideWork(BranchHandler& handler, const std::string& txn_id, uint32_t branch_id, bool commit,
                absl::Time now, storage::WorkView& view, UnitResult& out);

// Thread-safe. `store`, `handler`, `metrics` (may be null) and `saga` (may be null) must
// outlive it.
class ParticipantService final : public v1::Participant::CallbackService {
 public:
  // Runs once, on any thread: the call's status and, with OK, its serialized response.
  using Done = std::function<void(absl::Status, std::string)>;

  // Every unit of work reads the time from `clock` (ParticipantOptions::clock).
  ParticipantService(storage::BranchStore& store, BranchHandler& handler,
                     ParticipantMetrics* metrics, SagaHandler* saga, std::string name, Clock clock);

  // One call of the Participant service by its method name ("Prepare", ...) and serialized
  // request: INVALID_ARGUMENT naming the method when it is unknown or the request does not
  // parse.
  void ServeCall(const std::string& method, const std::string& request, Done done);

  grpc::ServerUnaryReactor* Prepare(grpc::CallbackServerContext* context,
                                    const v1::PrepareRequest* request,
                                    v1::PrepareResponse* response) override;
  grpc::ServerUnaryReactor* Commit(grpc::CallbackServerContext* context,
                                   const v1::CommitRequest* request,
                                   v1::CommitResponse* response) override;
  grpc::ServerUnaryReactor* Abort(grpc::CallbackServerContext* context,
                                  const v1::AbortRequest* request,
                                  v1::AbortResponse* response) override;
  grpc::ServerUnaryReactor* Act(grpc::CallbackServerContext* context,
                                const v1::StepRequest* request,
                                v1::StepResponse* response) override;
  grpc::ServerUnaryReactor* Compensate(grpc::CallbackServerContext* context,
                                       const v1::StepRequest* request,
                                       v1::StepResponse* response) override;
  grpc::ServerUnaryReactor* PreCommit(grpc::CallbackServerContext* context,
                                      const v1::PreCommitRequest* request,
                                      v1::PreCommitResponse* response) override;
  grpc::ServerUnaryReactor* GetBranchState(grpc::CallbackServerContext* context,
                                           const v1::BranchStateRequest* request,
                                           v1::BranchStateResponse* response) override;
  grpc::ServerUnaryReactor* Batch(grpc::CallbackServerContext* context,
                                  const v1::ParticipantBatch* request,
                                  v1::ParticipantBatchReply* response) override;

  // The most calls one Batch may carry.
  static constexpr int kMaxBatchCalls = 1000;

 private:
  // Each call, whatever the transport: `finish` runs once with the status, after `response`
  // is filled. `request` and `response` must live until then.
  using Finish = std::function<void(absl::Status)>;
  void DoPrepare(const v1::PrepareRequest& request, v1::PrepareResponse* response, Finish finish);
  void DoDecide(const std::string& txn_id, uint32_t branch_id, bool commit, Finish finish);
  void DoStep(const v1::StepRequest& request, v1::StepResponse* response, bool compensate,
              Finish finish);
  void DoPreCommit(const v1::PreCommitRequest& request, Finish finish);
  void DoGetBranchState(const v1::BranchStateRequest& request, v1::BranchStateResponse* response,
                        Finish finish);
  // Each call through ServeCall, all submitted before any is awaited, so the store writes the
  // units of one batch together.
  void DoBatch(const v1::ParticipantBatch& batch, v1::ParticipantBatchReply* reply, Finish finish);
  // Submits one unit of work, run at the clock's time, and finishes when it is durable; `fill`
  // writes the response.
  void RunUnit(std::function<bool(absl::Time, storage::WorkView&, UnitResult&)> work,
               std::function<void(const UnitResult&)> fill, Finish finish);

  storage::BranchStore& store_;
  BranchHandler& handler_;
  ParticipantMetrics* const metrics_;
  SagaHandler* const saga_;  // May be null.
  const std::string name_;   // Empty: not checked.
  const Clock clock_;
};

}  // namespace settle::sdk::internal

#endif  // SETTLE_CLIENT_PARTICIPANT_SERVICE_H_
