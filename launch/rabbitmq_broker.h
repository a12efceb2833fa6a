#ifndef SETTLE_LAUNCH_RABBITMQ_BROKER_H_
#define SETTLE_LAUNCH_RABBITMQ_BROKER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "launch/process.h"

namespace settle::launch {

// A real RabbitMQ broker (Debian's rabbitmq-server) started by a test as an ordinary process on
// loopback, with its own node name, ports, epmd and data under `dir`. Stop it gracefully, kill
// it -9, and start it again on the same data. Not thread-safe.
class RabbitMqBroker final {
 public:
  // UNAVAILABLE (with the reason) when rabbitmq-server is not installed or does not start within
  // a minute: the caller skips loudly.
  static absl::StatusOr<std::unique_ptr<RabbitMqBroker>> Start(const std::string& dir);
  ~RabbitMqBroker();
  RabbitMqBroker(const RabbitMqBroker&) = delete;
  RabbitMqBroker& operator=(const RabbitMqBroker&) = delete;

  int port() const { return port_; }
  // The --amqp_host and --amqp_port flags of a process that reaches this broker.
  std::vector<std::string> ClientFlags() const;
  // Graceful stop (SIGTERM), waiting until it has exited.
  absl::Status Stop();
  // kill -9 of the Erlang VM: whatever it had not written is gone.
  absl::Status Kill();
  // Starts it again on the same data and ports; returns once it accepts connections.
  absl::Status Restart();

 private:
  RabbitMqBroker(std::string dir, int port, int dist_port, int epmd_port);
  absl::Status Launch();
  absl::StatusOr<int> VmPid() const;
  absl::Status Signal(int sig);

  const std::string dir_;
  const int port_, dist_port_, epmd_port_;
  std::unique_ptr<Process> process_;
  // The Erlang VM's pid, read from its pid file once it accepts connections: kept here, so that
  // the broker is killed even if its folder is gone first (a harness torn down before it).
  int vm_pid_ = 0;
};

}  // namespace settle::launch

// In a GoogleTest SetUp: starts a broker in `dir` into `broker` (a unique_ptr<RabbitMqBroker>),
// or skips the test loudly, with the reason, when none can start on this machine.
#define SETTLE_START_BROKER_OR_SKIP(broker, dir)                                          \
  do {                                                                                     \
    auto started = ::settle::launch::RabbitMqBroker::Start(dir);                         \
    if (!started.ok()) {                                                                   \
      GTEST_SKIP() << "SKIPPED LOUDLY: no RabbitMQ broker could start here: "              \
                   << started.status();                                                    \
    }                                                                                      \
    broker = std::move(*started);                                                          \
  } while (0)

#endif  // SETTLE_LAUNCH_RABBITMQ_BROKER_H_
