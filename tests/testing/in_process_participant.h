#ifndef SETTLE_TESTS_TESTING_IN_PROCESS_PARTICIPANT_H_
#define SETTLE_TESTS_TESTING_IN_PROCESS_PARTICIPANT_H_

// The participant SDK behind a real gRPC server on a loopback port in the test's process, and a
// stub to call it: for tests of the SDK's barrier without starting a binary.

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/participant_server.h"
#include "common/credentials.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"

namespace settle::testing {

// `store` and `handler` (and options.saga) must outlive it. Not thread-safe; the stub is.
class InProcessParticipant final {
 public:
  InProcessParticipant(storage::BranchStore& store, sdk::BranchHandler& handler,
                       sdk::ParticipantOptions options = {})
      : impl_(std::make_unique<sdk::ParticipantServer>(std::move(options), store, handler)) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", settle::ServerCredentials({}), &port);
    builder.RegisterService(impl_->participant_service());
    server_ = builder.BuildAndStart();
    endpoint_ = absl::StrCat("127.0.0.1:", port);
    stub_ = v1::Participant::NewStub(
        grpc::CreateChannel(endpoint_, settle::ChannelCredentials({})));
  }
  ~InProcessParticipant() {
    if (server_ != nullptr) server_->Shutdown();
  }
  InProcessParticipant(const InProcessParticipant&) = delete;
  InProcessParticipant& operator=(const InProcessParticipant&) = delete;

  bool serving() const { return server_ != nullptr; }
  v1::Participant::Stub& stub() { return *stub_; }
  const std::string& endpoint() const { return endpoint_; }
  sdk::ParticipantServer& server() { return *impl_; }

 private:
  std::unique_ptr<sdk::ParticipantServer> impl_;
  std::unique_ptr<grpc::Server> server_;
  std::string endpoint_;
  std::unique_ptr<v1::Participant::Stub> stub_;
};

}  // namespace settle::testing

#endif  // SETTLE_TESTS_TESTING_IN_PROCESS_PARTICIPANT_H_
