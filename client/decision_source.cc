#include "client/decision_source.h"

#include <chrono>

#include "common/shard_map.h"
#include "grpcpp/create_channel.h"
#include "proto/status_mapping.h"
#include "settle/v1/coordinator.grpc.pb.h"

namespace settle::sdk {
namespace {

// Asks the shard that owns each id (common/shard_map.h): only it knows the transaction.
class GrpcDecisionSource final : public DecisionSource {
 public:
  GrpcDecisionSource(ShardMap shards, std::vector<std::unique_ptr<v1::DecisionService::Stub>> stubs)
      : shards_(std::move(shards)), stubs_(std::move(stubs)) {}

  absl::StatusOr<Decision> GetDecision(const std::string& txn_id) override {
    absl::StatusOr<int> shard = shards_.ShardOfTxnId(txn_id);
    if (!shard.ok()) return shard.status();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::GetDecisionRequest req;
    req.set_txn_id(txn_id);
    v1::GetDecisionResponse resp;
    grpc::Status st = stubs_[*shard]->GetDecision(&ctx, req, &resp);
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
  const ShardMap shards_;
  const std::vector<std::unique_ptr<v1::DecisionService::Stub>> stubs_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DecisionSource>> MakeGrpcDecisionSource(
    const std::string& endpoints, std::shared_ptr<grpc::ChannelCredentials> credentials) {
  absl::StatusOr<ShardMap> shards = ShardMap::Parse(endpoints);
  if (!shards.ok()) return shards.status();
  grpc::ChannelArguments args;
  // A shard back from a crash is asked again within seconds (its in-doubt branches wait).
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  std::vector<std::unique_ptr<v1::DecisionService::Stub>> stubs;
  for (const std::string& e : shards->endpoints()) {
    stubs.push_back(v1::DecisionService::NewStub(grpc::CreateCustomChannel(e, credentials, args)));
  }
  return std::make_unique<GrpcDecisionSource>(*std::move(shards), std::move(stubs));
}

}  // namespace settle::sdk
