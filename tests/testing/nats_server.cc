#include "tests/testing/nats_server.h"

#include <signal.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "launch/http_get.h"
#include "launch/wait.h"

namespace settle::testing {
namespace {

constexpr char kServer[] = "/usr/sbin/nats-server";

}  // namespace

absl::StatusOr<std::unique_ptr<NatsServer>> NatsServer::Start(const std::string& dir) {
  if (!std::filesystem::exists(kServer)) {
    return absl::UnavailableError(
        absl::StrCat(kServer, " is not installed (apt-get install nats-server)"));
  }
  std::filesystem::create_directories(dir + "/jetstream");
  std::unique_ptr<NatsServer> server(new NatsServer(dir, launch::FreeListenPort()));
  if (absl::Status s = server->Launch(); !s.ok()) return s;
  return server;
}

absl::Status NatsServer::Launch() {
  auto p = launch::Process::Start(kServer,
                          {"-js", "-sd", dir_ + "/jetstream", "-a", "127.0.0.1", "-p",
                           absl::StrCat(port_), "-n", absl::StrCat("settle-test-", port_)},
                          dir_ + "/nats.log");
  if (!p.ok()) return p.status();
  process_ = std::move(*p);
  if (!launch::WaitFor([&] { return launch::AcceptsConnections(port_); }, absl::Seconds(30))) {
    return absl::UnavailableError(absl::StrCat("nats-server did not accept connections on ",
                                               port_, " within 30 s; see ", dir_, "/nats.log"));
  }
  return absl::OkStatus();
}

std::string NatsServer::url() const { return absl::StrCat("nats://127.0.0.1:", port_); }

std::vector<std::string> NatsServer::RelayFlags() const {
  return {"--outbox_target=nats", "--nats_url=" + url()};
}

absl::Status NatsServer::Signal(int sig) {
  process_->Signal(sig);
  if (!process_->Wait(absl::Seconds(30)).has_value()) {
    return absl::DeadlineExceededError("nats-server did not exit within 30 s");
  }
  return absl::OkStatus();
}

absl::Status NatsServer::Stop() { return Signal(SIGTERM); }

absl::Status NatsServer::Kill() { return Signal(SIGKILL); }

absl::Status NatsServer::Restart() { return Launch(); }

NatsServer::~NatsServer() = default;  // Process's destructor kills it.

}  // namespace settle::testing
