#ifndef SETTLE_MESSAGING_PUBLISHER_H_
#define SETTLE_MESSAGING_PUBLISHER_H_

// What the outbox relay publishes through: one interface, a RabbitMQ channel (amqp_channel.h)
// and a Kafka producer (kafka_publisher.h) behind it.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace settle::messaging {

struct OutboundMessage {
  std::string message_id;  // Stable across republishing, so that consumers drop duplicates.
  // RabbitMQ: empty is AmqpOptions::routing_key, which the queue is bound with; any other key
  // reaches no queue, the broker returns the message and it does not count as published.
  // Kafka ignores it.
  std::string routing_key;
  std::string body;
  std::string content_type = "application/json";
  // Kafka: the record's key, so that one transaction's messages land on one partition, in
  // order. RabbitMQ ignores it.
  std::string key;
};

// A connection to one broker that publishes durably and says what the broker confirmed. Not
// thread-safe: one owner thread. After any error it is unusable and the owner makes a new one.
class Publisher {
 public:
  virtual ~Publisher() = default;
  // Publishes `batch`, then waits until the broker has confirmed every message or `deadline`
  // passes (DEADLINE_EXCEEDED: the unconfirmed ones are to be published again). Returns, per
  // message, whether it counts as published: stored by the broker as durably as it promises
  // (RabbitMQ's confirm with no return; Kafka's delivery report from all in-sync replicas).
  // UNAVAILABLE when the broker cannot be reached.
  virtual absl::StatusOr<std::vector<bool>> PublishConfirmed(
      const std::vector<OutboundMessage>& batch, absl::Time deadline) = 0;
};

// Connects a new publisher; the relay calls it again after every failure. Called on one thread.
using PublisherFactory = std::function<absl::StatusOr<std::unique_ptr<Publisher>>()>;

// The pause before reconnecting after `failures` failures in a row (1 = the first): capped
// exponential backoff with full jitter, drawn from [step/2, step], so a broker that comes back
// is not stormed by every client at once. Thread-safe.
absl::Duration ReconnectBackoff(int failures, absl::Duration initial, absl::Duration max);

}  // namespace settle::messaging

#endif  // SETTLE_MESSAGING_PUBLISHER_H_
