#ifndef SETTLE_PARTICIPANTS_OUTBOX_FLAGS_H_
#define SETTLE_PARTICIPANTS_OUTBOX_FLAGS_H_

// The notification participant's outbox target, from flags: --outbox_target (rabbitmq or
// kafka), RabbitMQ's --amqp_* flags (amqp_flags.h), Kafka's --kafka_brokers, --kafka_topic and
// --kafka_config_file; each also SETTLE_<NAME>.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "participants/outbox_relay.h"

namespace settle::participants {

// The target --outbox_target names: "rabbitmq" or "kafka"; INVALID_ARGUMENT otherwise.
absl::StatusOr<std::string> OutboxTargetName();

// The target the flags configure; nullopt when the chosen target's broker is not given (no
// --amqp_host, no --kafka_brokers: committed messages wait in the outbox). INVALID_ARGUMENT
// naming the flag when a setting is wrong.
absl::StatusOr<std::optional<OutboxTarget>> OutboxTargetFromFlags();

// librdkafka properties from a file's text: one `key=value` a line; blank lines and lines
// starting with '#' are skipped. INVALID_ARGUMENT naming the line otherwise.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseKafkaProperties(
    const std::string& text);

}  // namespace settle::participants

#endif  // SETTLE_PARTICIPANTS_OUTBOX_FLAGS_H_
