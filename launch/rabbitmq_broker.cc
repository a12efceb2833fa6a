#include "launch/rabbitmq_broker.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "launch/http_get.h"
#include "launch/wait.h"

namespace settle::launch {
namespace {

constexpr char kServer[] = "/usr/lib/rabbitmq/bin/rabbitmq-server";
constexpr absl::Duration kStartTimeout = absl::Seconds(60);

bool IsZombie(int pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string pid_field, comm, state;
  stat >> pid_field >> comm >> state;
  return state == "Z";
}

}  // namespace

RabbitMqBroker::RabbitMqBroker(std::string dir, int port, int dist_port, int epmd_port)
    : dir_(std::move(dir)), port_(port), dist_port_(dist_port), epmd_port_(epmd_port) {}

absl::StatusOr<std::unique_ptr<RabbitMqBroker>> RabbitMqBroker::Start(const std::string& dir) {
  if (!std::filesystem::exists(kServer)) {
    return absl::UnavailableError(
        absl::StrCat(kServer, " is not installed (apt-get install rabbitmq-server)"));
  }
  std::filesystem::create_directories(dir + "/mnesia");
  std::filesystem::create_directories(dir + "/log");
  std::ofstream(dir + "/enabled_plugins") << "[].\n";
  std::unique_ptr<RabbitMqBroker> broker(
      new RabbitMqBroker(dir, FreeListenPort(), FreeListenPort(), FreeListenPort()));
  if (absl::Status s = broker->Launch(); !s.ok()) return s;
  return broker;
}

absl::Status RabbitMqBroker::Launch() {
  const std::string node = absl::StrCat("settle-test-", port_, "@localhost");
  std::filesystem::remove(dir_ + "/broker.pid");
  vm_pid_ = 0;
  // Its own epmd port too, so that brokers of concurrent tests never share (or stop) one.
  auto p = Process::Start(
      "/usr/bin/env",
      {"RABBITMQ_NODENAME=" + node, "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
       absl::StrCat("RABBITMQ_NODE_PORT=", port_), absl::StrCat("RABBITMQ_DIST_PORT=", dist_port_),
       "RABBITMQ_MNESIA_BASE=" + dir_ + "/mnesia", "RABBITMQ_LOG_BASE=" + dir_ + "/log",
       "RABBITMQ_PID_FILE=" + dir_ + "/broker.pid",
       "RABBITMQ_FEATURE_FLAGS_FILE=" + dir_ + "/feature_flags",
       "RABBITMQ_ENABLED_PLUGINS_FILE=" + dir_ + "/enabled_plugins", "HOME=" + dir_,
       // Mnesia writes a core file where the VM runs when the broker is killed: not the
       // caller's working directory.
       "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-mnesia core_dir \"" + dir_ + "\"",
       "ERL_EPMD_ADDRESS=127.0.0.1", absl::StrCat("ERL_EPMD_PORT=", epmd_port_), kServer},
      dir_ + "/broker.log");
  if (!p.ok()) return p.status();
  process_ = std::move(*p);
  // The AMQP listener opens last, once the broker has booted.
  if (!WaitFor([&] { return AcceptsConnections(port_); }, kStartTimeout)) {
    return absl::UnavailableError(absl::StrCat("rabbitmq-server did not accept connections on ",
                                               port_, " within a minute; see ", dir_,
                                               "/broker.log"));
  }
  if (auto pid = VmPid(); pid.ok()) vm_pid_ = *pid;
  return absl::OkStatus();
}

absl::StatusOr<int> RabbitMqBroker::VmPid() const {
  int pid = vm_pid_;
  if (pid <= 0) std::ifstream(dir_ + "/broker.pid") >> pid;
  if (pid <= 0) return absl::NotFoundError("the broker wrote no pid file");
  return pid;
}

absl::Status RabbitMqBroker::Signal(int sig) {
  auto pid = VmPid();
  if (!pid.ok()) return pid.status();
  kill(*pid, sig);
  if (!process_->Wait(absl::Seconds(60)).has_value()) {
    return absl::DeadlineExceededError("the broker did not exit within a minute");
  }
  // Gone: its pid may be another process's from now on.
  vm_pid_ = 0;
  std::filesystem::remove(dir_ + "/broker.pid");
  return absl::OkStatus();
}

absl::Status RabbitMqBroker::Stop() { return Signal(SIGTERM); }

absl::Status RabbitMqBroker::Kill() { return Signal(SIGKILL); }

absl::Status RabbitMqBroker::Restart() { return Launch(); }

RabbitMqBroker::~RabbitMqBroker() {
  if (auto pid = VmPid(); pid.ok() && kill(*pid, SIGKILL) == 0) {
    // Gone only once reaped; until then epmd still lists the node and refuses to stop.
    WaitFor(
        [&] {
          return !std::filesystem::exists(absl::StrCat("/proc/", *pid, "/status")) ||
                 kill(*pid, 0) != 0 || IsZombie(*pid);
        },
        absl::Seconds(10));
  }
  process_.reset();
  // The broker's own epmd outlives it; end it by its port, once it has noticed the node gone
  // (it refuses to stop while a node is registered): a bounded retry.
  const std::string cmd =
      absl::StrCat("for i in $(seq 50); do ERL_EPMD_PORT=", epmd_port_,
                   " epmd -kill 2>/dev/null | grep -q Killed && break; sleep 0.1; done");
  (void)std::system(cmd.c_str());
}

std::vector<std::string> RabbitMqBroker::ClientFlags() const {
  return {"--amqp_host=127.0.0.1", absl::StrCat("--amqp_port=", port_)};
}

}  // namespace settle::launch
