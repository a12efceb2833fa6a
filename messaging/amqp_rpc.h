#ifndef SETTLE_MESSAGING_AMQP_RPC_H_
#define SETTLE_MESSAGING_AMQP_RPC_H_

// Request and reply over RabbitMQ, for the participant protocol over AMQP (participant.proto's
// ParticipantCall): a channel without publisher confirms that publishes to queues through the
// default exchange, consumes one queue, and waits for a delivery, a returned message or a
// wake-up from another thread, whichever comes first.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "messaging/amqp_channel.h"

namespace settle::messaging {

struct RpcMessage {
  std::string queue;  // Where it goes (the default exchange routes by queue name).
  std::string correlation_id;
  std::string reply_to;  // Requests: the queue to answer to.
  std::string body;
  // Requests: kept on disk by the broker, returned when no queue has that name (mandatory),
  // and dropped unread once `ttl` passes (> 0).
  bool request = false;
  absl::Duration ttl = absl::ZeroDuration();
};

struct RpcEvent {
  enum class Kind {
    kNone,      // The wait ended without one (timeout or wake-up).
    kDelivery,  // A message from the consumed queue.
    kReturned,  // A request the broker could not route: no queue of that name.
  };
  Kind kind = Kind::kNone;
  uint64_t delivery_tag = 0;  // kDelivery: ack it with Ack().
  bool redelivered = false;
  std::string correlation_id;
  std::string reply_to;
  std::string body;
  std::string queue;  // kReturned: where it was meant to go.
};

// Wakes an RpcChannel's Wait() from any thread (an eventfd). Thread-safe.
class RpcWaker final {
 public:
  RpcWaker();
  ~RpcWaker();
  RpcWaker(const RpcWaker&) = delete;
  RpcWaker& operator=(const RpcWaker&) = delete;
  void Wake();
  int fd() const { return fd_; }

 private:
  int fd_;
};

// One connection, one channel. rabbitmq-c is not thread-safe, so neither is this: one owner
// thread, which other threads reach through an RpcWaker. Every method returns UNAVAILABLE when
// the broker is lost; the channel is then unusable and the owner connects anew.
class RpcChannel final {
 public:
  static absl::StatusOr<std::unique_ptr<RpcChannel>> Connect(const AmqpOptions& options);
  ~RpcChannel();
  RpcChannel(const RpcChannel&) = delete;
  RpcChannel& operator=(const RpcChannel&) = delete;

  // A durable classic queue named `name` (a participant's requests).
  absl::Status DeclareDurableQueue(const std::string& name);
  // An exclusive, server-named queue that goes with this connection (a caller's replies).
  absl::StatusOr<std::string> DeclareReplyQueue();
  // Starts consuming `queue`: with `prefetch` unacked deliveries at most, or with no acks at
  // all when `prefetch` is 0 (a reply lost with the connection is a call that times out).
  absl::Status Consume(const std::string& queue, int prefetch);

  absl::Status Publish(const RpcMessage& message);
  absl::Status Ack(uint64_t delivery_tag);

  // Waits up to `timeout` for the next event, or until `waker` is woken.
  absl::StatusOr<RpcEvent> Wait(absl::Duration timeout, RpcWaker& waker);

 private:
  explicit RpcChannel(std::unique_ptr<internal::Connection> conn);

  std::unique_ptr<internal::Connection> conn_;
  std::string consumer_tag_;
};

}  // namespace settle::messaging

#endif  // SETTLE_MESSAGING_AMQP_RPC_H_
