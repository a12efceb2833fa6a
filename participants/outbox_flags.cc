#include "participants/outbox_flags.h"

#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "messaging/amqp_channel.h"
#include "messaging/kafka_publisher.h"
#include "messaging/amqp_flags.h"

ABSL_FLAG(std::string, outbox_target, "rabbitmq",
          "notification: where the outbox relay publishes committed messages, rabbitmq (the "
          "--amqp_* flags) or kafka (the --kafka_* flags)");
ABSL_FLAG(std::string, kafka_brokers, "",
          "Kafka bootstrap servers, host:port[,host:port...] (empty keeps messages in the outbox)");
ABSL_FLAG(std::string, kafka_topic, "settle.payment-results",
          "Kafka topic of payment results; it must exist");
ABSL_FLAG(std::string, kafka_config_file, "",
          "file of further librdkafka properties for a real cluster (security.protocol, ssl.*, "
          "sasl.*), one key=value a line");

namespace settle::participants {

absl::StatusOr<std::string> OutboxTargetName() {
  std::string name = absl::GetFlag(FLAGS_outbox_target);
  if (name != "rabbitmq" && name != "kafka") {
    return absl::InvalidArgumentError(
        absl::StrCat("--outbox_target must be rabbitmq or kafka, not '", name.substr(0, 32), "'"));
  }
  return name;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseKafkaProperties(
    const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == 0 || eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", number, " is not key=value"));  // The value may be a secret.
    }
    out.emplace_back(std::string(absl::StripAsciiWhitespace(line.substr(0, eq))),
                     std::string(absl::StripAsciiWhitespace(line.substr(eq + 1))));
  }
  return out;
}

absl::StatusOr<std::optional<OutboxTarget>> OutboxTargetFromFlags() {
  auto name = OutboxTargetName();
  if (!name.ok()) return name.status();
  if (*name == "rabbitmq") {
    if (!messaging::AmqpConfigured()) return std::nullopt;
    auto amqp = messaging::AmqpOptionsFromFlags();
    if (!amqp.ok()) return amqp.status();
    return OutboxTarget{*name, absl::StrCat(amqp->host, ":", amqp->port),
                        [amqp = *amqp]() -> absl::StatusOr<std::unique_ptr<messaging::Publisher>> {
                          return messaging::AmqpChannel::Connect(amqp);
                        }};
  }
  messaging::KafkaOptions kafka;
  kafka.bootstrap_servers = absl::GetFlag(FLAGS_kafka_brokers);
  if (kafka.bootstrap_servers.empty()) return std::nullopt;
  kafka.topic = absl::GetFlag(FLAGS_kafka_topic);
  if (const std::string file = absl::GetFlag(FLAGS_kafka_config_file); !file.empty()) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in)
      return absl::InvalidArgumentError(absl::StrCat("--kafka_config_file: cannot read ", file));
    auto properties = ParseKafkaProperties(text.str());
    if (!properties.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--kafka_config_file ", file, ": ", properties.status().message()));
    }
    kafka.config = std::move(*properties);
  }
  return OutboxTarget{*name, kafka.bootstrap_servers,
                      [kafka]() -> absl::StatusOr<std::unique_ptr<messaging::Publisher>> {
                        return messaging::KafkaPublisher::Create(kafka);
                      }};
}

}  // namespace settle::participants
