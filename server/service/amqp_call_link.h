#ifndef SETTLE_SERVER_SERVICE_AMQP_CALL_LINK_H_
#define SETTLE_SERVER_SERVICE_AMQP_CALL_LINK_H_

// The coordinator's calls to participants through RabbitMQ: participant.proto's ParticipantCall
// messages on each participant's durable request queue, answered on the coordinator's own reply
// queue and matched by correlation id (the wire format is documented there).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "messaging/amqp_channel.h"
#include "messaging/amqp_rpc.h"
#include "prometheus/registry.h"

namespace settle {

// The coordinator's one connection for calls through the broker. One thread owns it: it
// publishes each call (persistent, mandatory, expiring at the call's deadline), reads the
// replies from an exclusive reply queue, and runs each call's `done` exactly once: with the
// reply, UNAVAILABLE when the participant's queue does not exist (the broker returned the
// call) or the connection was lost before a reply (never a vote: the engine retries or
// aborts), or DEADLINE_EXCEEDED. While the broker is away calls fail at once with UNAVAILABLE
// and it reconnects with capped, jittered backoff.
//
// Metrics (when a registry is given): settle_amqp_calls_total{result}, settle_amqp_call_seconds,
// settle_amqp_connected. Thread-safe; `done` runs on the link's thread, or on the caller's when
// the call fails at once, and must not block.
class AmqpCallLink final {
 public:
  using Done = std::function<void(absl::StatusOr<std::string>)>;

  AmqpCallLink(messaging::AmqpOptions broker, prometheus::Registry* registry);
  ~AmqpCallLink();  // Stops; calls still waiting get UNAVAILABLE.
  AmqpCallLink(const AmqpCallLink&) = delete;
  AmqpCallLink& operator=(const AmqpCallLink&) = delete;

  void Start() ABSL_LOCKS_EXCLUDED(mu_);
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Calls `method` of the participant whose request queue is `queue` with the serialized
  // `request`; `done` gets the serialized response.
  void Call(const std::string& queue, const std::string& method, std::string request,
            absl::Time deadline, Done done) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Pending {
    std::string queue;
    std::string body;  // The serialized ParticipantCall; cleared once published.
    absl::Time deadline;
    absl::Time sent;
    Done done;
  };
  struct Metrics;
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Publishes the calls not yet sent; fails the connection on the first error.
  absl::Status SendUnsent(messaging::RpcChannel& channel, const std::string& reply_queue)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `done` of the call with `correlation_id`, if it still waits: its reply, or (when
  // `returned`) the broker's refusal to route it.
  void Answer(const std::string& correlation_id, absl::StatusOr<std::string> result, bool returned)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Removes and returns the calls matching `pick`.
  std::vector<Pending> TakeIf(const std::function<bool(const Pending&)>& pick)
      ABSL_LOCKS_EXCLUDED(mu_);

  const messaging::AmqpOptions broker_;
  std::unique_ptr<Metrics> metrics_;
  messaging::RpcWaker waker_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, Pending> pending_ ABSL_GUARDED_BY(mu_);  // By correlation id.
  std::vector<std::string> unsent_ ABSL_GUARDED_BY(mu_);         // Correlation ids.
  std::thread thread_;
};

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_AMQP_CALL_LINK_H_
