#include "server/service/previous_owners.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/shard_map.h"
#include "grpcpp/create_channel.h"
#include "proto/status_mapping.h"
#include "proto/unary_call.h"
#include "server/service/api_convert.h"

namespace settle {

absl::StatusOr<std::unique_ptr<GrpcPreviousOwners>> GrpcPreviousOwners::Connect(
    const std::string& peers, int needed, const TlsOptions& tls) {
  auto map = ShardMap::Parse(peers);
  if (!map.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--peers: ", map.status().message()));
  }
  if (map->size() < needed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--peers lists ", map->size(), " shards; the change of the number of shards needs all ",
        needed, " that run during it (the larger of --shards and --previous_shards)"));
  }
  std::vector<std::unique_ptr<v1::Coordinator::Stub>> stubs;
  grpc::ChannelArguments args;
  // A previous owner back from a restart is found within two seconds.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  for (const std::string& endpoint : map->endpoints()) {
    stubs.push_back(v1::Coordinator::NewStub(
        grpc::CreateCustomChannel(endpoint, ChannelCredentials(tls), args)));
  }
  return std::unique_ptr<GrpcPreviousOwners>(
      new GrpcPreviousOwners(std::move(stubs), map->endpoints()));
}

GrpcPreviousOwners::~GrpcPreviousOwners() { WaitForCalls(); }

void GrpcPreviousOwners::WaitForCalls() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &in_flight_));
}

void GrpcPreviousOwners::ExecuteIfKnown(int index, const engine::ExecuteParams& params,
                                        engine::ExecuteDone done) {
  if (index < 0 || index >= static_cast<int>(stubs_.size())) {
    return done(absl::UnavailableError(absl::StrCat("shard s", index, " is not in --peers")));
  }
  auto call = std::make_shared<UnaryCall<v1::ExecuteRequest, v1::ExecuteResponse>>();
  ToExecuteRequest(params, &call->request);
  call->request.set_only_if_known(true);
  {
    absl::MutexLock lock(&mu_);
    ++in_flight_;
  }
  v1::Coordinator::Stub* stub = stubs_[index].get();
  // A key active there is answered once it is decided: its own timeout bounds the wait.
  const absl::Time deadline = absl::Now() + params.timeout + absl::Seconds(10);
  StartUnaryCall(
      [stub](grpc::ClientContext* context, const v1::ExecuteRequest* request,
             v1::ExecuteResponse* response, std::function<void(grpc::Status)> on_done) {
        stub->async()->Execute(context, request, response, std::move(on_done));
      },
      deadline, std::move(call),
      [this, index, done = std::move(done)](const grpc::Status& s,
                                            const v1::ExecuteResponse& response) {
        if (s.ok()) {
          done(FromExecuteResponse(response));
        } else {
          absl::Status status = FromGrpcStatus(s);
          done(absl::Status(status.code(),
                            absl::StrCat("(", endpoints_[index], ") ", status.message())));
        }
        absl::MutexLock lock(&mu_);
        --in_flight_;
      });
}

}  // namespace settle
