#include "client/decision_source.h"

#include <chrono>

#include "grpcpp/create_channel.h"
#include "proto/status_mapping.h"
#include "settle/v1/coordinator.grpc.pb.h"

namespace settle::sdk {
namespace {

class GrpcDecisionSource final : public DecisionSource {
 public:
  explicit GrpcDecisionSource(std::unique_ptr<v1::DecisionService::Stub> stub)
      : stub_(std::move(stub)) {}

  absl::StatusOr<Decision> GetDecision(const std::string& txn_id) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::GetDecisionRequest req;
    req.set_txn_id(txn_id);
    v1::GetDecisionResponse resp;
    grpc::Status st = stub_->GetDecision(&ctx, req, &resp);
    if (!st.ok()) return FromGrpcStatus(st);
    switch (resp.decision()) {
      case v1::DECISION_COMMIT:
        return Decision::kCommit;
      case v1::DECISION_ABORT:
        return Decision::kAbort;
      case v1::DECISION_UNDECIDED:
        return Decision::kUndecided;
      default:  // Never sent; not taken for an abort.
        return absl::UnknownError("the coordinator answered no decision");
    }
  }

 private:
  const std::unique_ptr<v1::DecisionService::Stub> stub_;
};

}  // namespace

std::unique_ptr<DecisionSource> MakeGrpcDecisionSource(
    const std::string& endpoint, std::shared_ptr<grpc::ChannelCredentials> credentials) {
  return std::make_unique<GrpcDecisionSource>(
      v1::DecisionService::NewStub(grpc::CreateChannel(endpoint, std::move(credentials))));
}

}  // namespace settle::sdk
