#ifndef SETTLE_PARTICIPANTS_OUTBOX_FLAGS_H_
#define SETTLE_PARTICIPANTS_OUTBOX_FLAGS_H_

// The notification participant's outbox target, from flags: --outbox_target (rabbitmq, kafka
// or nats), RabbitMQ's --amqp_* flags (amqp_flags.h), Kafka's --kafka_brokers, --kafka_topic and
// --kafka_config_file, NATS JetStream's --nats_url, --nats_stream, --nats_subject,
// --nats_duplicate_window, --nats_replicas, --nats_ca_file and --nats_creds_file; each also
// SETTLE_<NAME>.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "messaging/nats_publisher.h"
#include "participants/outbox_relay.h"

namespace settle::participants {

// The target --outbox_target names: "rabbitmq", "kafka" or "nats"; INVALID_ARGUMENT otherwise.
absl::StatusOr<std::string> OutboxTargetName();

// The target the flags configure; nullopt when the chosen target's broker is not given (no
// --amqp_host, --kafka_brokers or --nats_url: committed messages wait in the outbox).
// INVALID_ARGUMENT naming the flag when a setting is wrong.
absl::StatusOr<std::optional<OutboxTarget>> OutboxTargetFromFlags();

// The NATS settings that --nats_* flags give: INVALID_ARGUMENT naming the flag when the stream
// or subject is not a JetStream name, the de-duplication window is under a second or the
// replicas are not 1 to 5.
absl::Status CheckNatsOptions(const messaging::NatsOptions& nats);

// librdkafka properties from a file's text: one `key=value` a line; blank lines and lines
// starting with '#' are skipped. INVALID_ARGUMENT naming the line otherwise.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseKafkaProperties(
    const std::string& text);

}  // namespace settle::participants

#endif  // SETTLE_PARTICIPANTS_OUTBOX_FLAGS_H_
