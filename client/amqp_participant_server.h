#ifndef SETTLE_CLIENT_AMQP_PARTICIPANT_SERVER_H_
#define SETTLE_CLIENT_AMQP_PARTICIPANT_SERVER_H_

// The participant protocol over RabbitMQ (participant.proto's ParticipantCall): serves a
// ParticipantServer's calls from its durable request queue, so that a participant registered
// as `amqp:<queue>` runs the same BranchHandler as over gRPC, unchanged.

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/participant_server.h"
#include "messaging/amqp_channel.h"
#include "prometheus/registry.h"

namespace settle::sdk {

struct AmqpServeOptions {
  messaging::AmqpOptions broker;  // Host, port, credentials; the exchange settings are unused.
  std::string queue;              // The request queue: `amqp:<queue>` at the coordinator.
  // Requests in hand (read, not yet answered and acked) at most; the broker keeps the rest.
  int prefetch = 256;
  absl::Duration backoff_initial = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(10);
};

// One background thread owns the connection: it declares the queue (durable), consumes it with
// manual acks, hands each call to ParticipantServer::ServeCall, and publishes the reply to the
// caller's reply queue before it acks the call, so a call whose effect or reply was lost in a
// crash is delivered again, and the SDK's barrier gives it one effect. A call read after its
// deadline is acked and dropped unanswered (its caller has given up; the broker also drops it
// unread at its expiration). While the broker is away it reconnects with capped, jittered
// backoff. Metrics (when a registry is given): settle_participant_amqp_requests_total{result}
// (served, expired, malformed) and settle_participant_amqp_connected.
//
// Thread-safe: Start() and Stop() from anywhere. `server` must outlive it; answers that
// complete after Stop() are dropped (their calls come again).
class AmqpParticipantServer final {
 public:
  AmqpParticipantServer(AmqpServeOptions options, ParticipantServer& server,
                        prometheus::Registry* registry);
  ~AmqpParticipantServer();
  AmqpParticipantServer(const AmqpParticipantServer&) = delete;
  AmqpParticipantServer& operator=(const AmqpParticipantServer&) = delete;

  void Start() ABSL_LOCKS_EXCLUDED(mu_);
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Completions;
  struct Metrics;
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  bool Stopping() ABSL_LOCKS_EXCLUDED(mu_);

  const AmqpServeOptions options_;
  ParticipantServer& server_;
  std::unique_ptr<Metrics> metrics_;
  // Shared with the answers in flight, which may complete after this object is gone.
  std::shared_ptr<Completions> completions_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace settle::sdk

#endif  // SETTLE_CLIENT_AMQP_PARTICIPANT_SERVER_H_
