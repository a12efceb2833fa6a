// settle-faultproxy: a TEST-ONLY gRPC proxy for the Participant service that drops, delays and
// duplicates requests and replies between the coordinator and one participant. Register it
// with the coordinator in place of the participant. It is built with the tests and never
// shipped in the image; nothing in the product's path goes through it unless a test puts it
// there.

#include <atomic>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/credentials.h"
#include "common/env_flags.h"
#include "common/json_log.h"
#include "common/serving.h"
#include "common/signals.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "proto/unary_call.h"
#include "server/engine/scheduler.h"
#include "settle/v1/participant.grpc.pb.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "proxy listen address");
ABSL_FLAG(std::string, target, "", "the participant's address");
ABSL_FLAG(std::string, port_file, "", "write the bound port here once serving");
ABSL_FLAG(double, drop_request, 0.1, "share of requests never forwarded (answered UNAVAILABLE)");
ABSL_FLAG(double, drop_reply, 0.1, "share of replies lost after the participant acted");
ABSL_FLAG(double, duplicate, 0.1, "share of requests delivered twice (the copy later)");
ABSL_FLAG(absl::Duration, delay_max, absl::Milliseconds(30), "uniform random delay per hop");
ABSL_FLAG(uint32_t, seed, 1, "random seed");
ABSL_FLAG(std::vector<std::string>, hold, {},
          "methods whose requests are never forwarded (a partition for them): each is answered "
          "DEADLINE_EXCEEDED at its deadline, e.g. PreCommit,GetBranchState,Commit");

namespace {

using settle::v1::Participant;

class FaultProxy final : public Participant::CallbackService {
 public:
  FaultProxy(const std::string& target, uint32_t seed)
      : stub_(Participant::NewStub(
            grpc::CreateChannel(target, settle::ChannelCredentials({})))),
        rng_(seed) {}

  grpc::ServerUnaryReactor* Prepare(grpc::CallbackServerContext* ctx,
                                    const settle::v1::PrepareRequest* req,
                                    settle::v1::PrepareResponse* resp) override {
    return Forward("Prepare", ctx, req, resp,
                   [this](auto... a) { stub_->async()->Prepare(a...); });
  }
  grpc::ServerUnaryReactor* Commit(grpc::CallbackServerContext* ctx,
                                   const settle::v1::CommitRequest* req,
                                   settle::v1::CommitResponse* resp) override {
    return Forward("Commit", ctx, req, resp,
                   [this](auto... a) { stub_->async()->Commit(a...); });
  }
  grpc::ServerUnaryReactor* Abort(grpc::CallbackServerContext* ctx,
                                  const settle::v1::AbortRequest* req,
                                  settle::v1::AbortResponse* resp) override {
    return Forward("Abort", ctx, req, resp,
                   [this](auto... a) { stub_->async()->Abort(a...); });
  }
  grpc::ServerUnaryReactor* Act(grpc::CallbackServerContext* ctx,
                                const settle::v1::StepRequest* req,
                                settle::v1::StepResponse* resp) override {
    return Forward("Act", ctx, req, resp,
                   [this](auto... a) { stub_->async()->Act(a...); });
  }
  grpc::ServerUnaryReactor* Compensate(grpc::CallbackServerContext* ctx,
                                       const settle::v1::StepRequest* req,
                                       settle::v1::StepResponse* resp) override {
    return Forward("Compensate", ctx, req, resp,
                   [this](auto... a) { stub_->async()->Compensate(a...); });
  }
  grpc::ServerUnaryReactor* PreCommit(grpc::CallbackServerContext* ctx,
                                      const settle::v1::PreCommitRequest* req,
                                      settle::v1::PreCommitResponse* resp) override {
    return Forward("PreCommit", ctx, req, resp,
                   [this](auto... a) { stub_->async()->PreCommit(a...); });
  }
  grpc::ServerUnaryReactor* GetBranchState(grpc::CallbackServerContext* ctx,
                                           const settle::v1::BranchStateRequest* req,
                                           settle::v1::BranchStateResponse* resp) override {
    return Forward("GetBranchState", ctx, req, resp,
                   [this](auto... a) { stub_->async()->GetBranchState(a...); });
  }
  // A batch is forwarded, dropped, duplicated or its reply lost whole: a link broken mid-batch
  // after the participant acted on every call. With --hold the proxy serves no batches, so the
  // coordinator sends the unary calls and each held method is held on its own.
  grpc::ServerUnaryReactor* Batch(grpc::CallbackServerContext* ctx,
                                  const settle::v1::ParticipantBatch* req,
                                  settle::v1::ParticipantBatchReply* resp) override {
    if (!absl::GetFlag(FLAGS_hold).empty()) {
      auto* reactor = ctx->DefaultReactor();
      reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no batches with --hold"));
      return reactor;
    }
    return Forward("Batch", ctx, req, resp, [this](auto... a) { stub_->async()->Batch(a...); });
  }

 private:
  double Roll() {
    absl::MutexLock lock(&mu_);
    return std::uniform_real_distribution<double>(0, 1)(rng_);
  }
  absl::Duration Delay() { return absl::GetFlag(FLAGS_delay_max) * Roll(); }

  static void Injected(const char* fault, const std::string& method) {
    settle::Log(settle::LogLevel::kInfo, "injected", {{"fault", fault}, {"method", method}});
  }

  template <typename Req, typename Resp, typename Call>
  grpc::ServerUnaryReactor* Forward(const std::string& method, grpc::CallbackServerContext* ctx,
                                    const Req* req, Resp* resp, Call call) {
    auto* reactor = ctx->DefaultReactor();
    if (absl::c_linear_search(absl::GetFlag(FLAGS_hold), method)) {
      Injected("hold", method);
      const absl::Duration wait = std::min(
          absl::FromChrono(ctx->deadline()) - absl::Now(), absl::Seconds(30));
      scheduler_.RunAfter(wait, [reactor] {
        reactor->Finish(
            grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "held past the deadline (fault proxy)"));
      });
      return reactor;
    }
    if (Roll() < absl::GetFlag(FLAGS_drop_request)) {
      Injected("drop_request", method);
      scheduler_.RunAfter(Delay(), [reactor] {
        reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "request lost (fault proxy)"));
      });
      return reactor;
    }
    if (Roll() < absl::GetFlag(FLAGS_duplicate)) {
      Injected("duplicate", method);
      auto copy = std::make_shared<settle::UnaryCall<Req, Resp>>();
      copy->request = *req;
      scheduler_.RunAfter(Delay() * 3, [call, copy]() mutable {
        settle::StartUnaryCall<Req, Resp>(call, absl::Now() + absl::Seconds(30), std::move(copy),
                                          [](const grpc::Status&, const Resp&) {});
      });
    }
    const bool lose_reply = Roll() < absl::GetFlag(FLAGS_drop_reply);
    scheduler_.RunAfter(Delay(), [call, ctx, req, resp, reactor, lose_reply, method] {
      auto cctx = std::make_shared<grpc::ClientContext>();
      cctx->set_deadline(ctx->deadline());
      // The server's own request and response, so not a UnaryCall: the same hand-off, stated here.
      SETTLE_TSAN_HAND_OVER(cctx.get());
      call(cctx.get(), req, resp, [cctx, reactor, lose_reply, method](grpc::Status s) {
        SETTLE_TSAN_TAKE_OVER(cctx.get());
        if (lose_reply) {
          Injected("drop_reply", method);
          s = grpc::Status(grpc::StatusCode::UNAVAILABLE, "reply lost (fault proxy)");
        }
        reactor->Finish(s);
      });
    });
    return reactor;
  }

  std::unique_ptr<Participant::Stub> stub_;
  absl::Mutex mu_;
  std::mt19937 rng_ ABSL_GUARDED_BY(mu_);
  settle::engine::ThreadScheduler scheduler_;
};

}  // namespace

int main(int argc, char** argv) {
  settle::BlockTerminationSignals();
  settle::ParseFlagsWithEnv(argc, argv, "settle-faultproxy: TEST ONLY link-fault proxy");
  FaultProxy proxy(absl::GetFlag(FLAGS_target), absl::GetFlag(FLAGS_seed));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), settle::ServerCredentials({}), &port);
  builder.RegisterService(&proxy);
  auto server = builder.BuildAndStart();
  if (server == nullptr || port == 0) return 1;
  settle::WritePortFile(absl::GetFlag(FLAGS_port_file), {port});
  settle::WaitForTerminationSignal();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}
