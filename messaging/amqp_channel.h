#ifndef SETTLE_MESSAGING_AMQP_CHANNEL_H_
#define SETTLE_MESSAGING_AMQP_CHANNEL_H_

// RabbitMQ (AMQP 0-9-1) through rabbitmq-c, behind a small interface of ours; rabbitmq-c is
// included only in messaging/ (STYLE.md 11). The outbox relay publishes through it (as a
// Publisher); consumers read through it.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "messaging/publisher.h"

namespace settle::messaging {
namespace internal {
struct Connection;
}  // namespace internal

struct AmqpOptions {
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string user = "guest";
  std::string password = "guest";
  std::string vhost = "/";
  // The topology declared on every (re)connect: a durable direct exchange, a durable quorum
  // queue bound to it with `routing_key`, and a dead-letter exchange and queue for messages
  // redelivered more than `delivery_limit` times (RabbitMQ 3.10 sets no limit by default).
  std::string exchange = "settle.payments";
  std::string queue = "settle.payment-results";
  std::string routing_key = "payment.result";
  std::string dead_letter_exchange = "settle.payments.dlx";
  std::string dead_letter_queue = "settle.payment-results.dead";
  int delivery_limit = 20;
  absl::Duration connect_timeout = absl::Seconds(5);
};

using AmqpMessage = OutboundMessage;

// A message read from a queue; Ack() it once its effect is durable.
struct AmqpDelivery {
  uint64_t delivery_tag = 0;
  bool redelivered = false;
  std::string message_id;
  std::string body;
};

// One connection with one channel in confirm mode. rabbitmq-c is not thread-safe, so neither is
// this: one AmqpChannel per thread. Every method returns UNAVAILABLE when the broker cannot be
// reached or closed the connection; the channel is then unusable and the caller connects anew.
class AmqpChannel final : public Publisher {
 public:
  // Connects, logs in, opens a channel in confirm mode and declares the topology.
  static absl::StatusOr<std::unique_ptr<AmqpChannel>> Connect(const AmqpOptions& options);
  ~AmqpChannel();
  AmqpChannel(const AmqpChannel&) = delete;
  AmqpChannel& operator=(const AmqpChannel&) = delete;

  // Publisher: persistent and mandatory to the exchange; a message counts as published when
  // acked with no return before the ack (an unroutable one is returned, then acked: false).
  absl::StatusOr<std::vector<bool>> PublishConfirmed(const std::vector<OutboundMessage>& batch,
                                                     absl::Time deadline) override;

  // Takes one message from `queue` (basic.get, manual ack); nullopt when it is empty.
  absl::StatusOr<std::optional<AmqpDelivery>> Get(const std::string& queue);
  absl::Status Ack(uint64_t delivery_tag);
  // Hands a message back to the queue for redelivery (a quorum queue counts it against its
  // delivery limit, then dead-letters it).
  absl::Status Requeue(uint64_t delivery_tag);

 private:
  AmqpChannel(std::unique_ptr<internal::Connection> conn, AmqpOptions options);
  absl::Status DeclareTopology();

  std::unique_ptr<internal::Connection> conn_;
  const AmqpOptions options_;
  uint64_t next_delivery_tag_ = 1;  // Confirm mode numbers publishes from 1 on the channel.
};

}  // namespace settle::messaging

#endif  // SETTLE_MESSAGING_AMQP_CHANNEL_H_
