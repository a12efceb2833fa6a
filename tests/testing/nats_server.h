#ifndef SETTLE_TESTS_TESTING_NATS_SERVER_H_
#define SETTLE_TESTS_TESTING_NATS_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "launch/process.h"

namespace settle::testing {

// A real NATS server with JetStream (Debian's nats-server) started by a test as an ordinary
// process on loopback, its JetStream files under `dir`. Stop it gracefully, kill it -9, and
// start it again on the same files and port. Not thread-safe.
class NatsServer final {
 public:
  // UNAVAILABLE (with the reason) when nats-server is not installed or does not accept
  // connections within 30 s: the caller skips loudly.
  static absl::StatusOr<std::unique_ptr<NatsServer>> Start(const std::string& dir);
  ~NatsServer();
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  int port() const { return port_; }
  std::string url() const;
  // The --outbox_target and --nats_url flags of a relay that publishes here.
  std::vector<std::string> RelayFlags() const;
  // Graceful stop (SIGTERM), waiting until it has exited.
  absl::Status Stop();
  // kill -9: whatever it had not written is gone.
  absl::Status Kill();
  // Starts it again on the same files and port; returns once it accepts connections.
  absl::Status Restart();

 private:
  NatsServer(std::string dir, int port) : dir_(std::move(dir)), port_(port) {}
  absl::Status Launch();
  absl::Status Signal(int sig);

  const std::string dir_;
  const int port_;
  std::unique_ptr<launch::Process> process_;
};

}  // namespace settle::testing

// In a GoogleTest SetUp: starts a NATS server in `dir` into `server` (a
// unique_ptr<NatsServer>), or skips the test loudly, with the reason, when none can start.
#define SETTLE_START_NATS_OR_SKIP(server, dir)                                           \
  do {                                                                                    \
    auto started = ::settle::testing::NatsServer::Start(dir);                            \
    if (!started.ok()) {                                                                  \
      GTEST_SKIP() << "SKIPPED LOUDLY: no NATS server could start here: "                 \
                   << started.status();                                                   \
    }                                                                                     \
    server = std::move(*started);                                                         \
  } while (0)

#endif  // SETTLE_TESTS_TESTING_NATS_SERVER_H_
