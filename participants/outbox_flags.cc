#include "participants/outbox_flags.h"

#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "messaging/amqp_channel.h"
#include "messaging/amqp_flags.h"
#include "messaging/kafka_publisher.h"
#include "messaging/nats_publisher.h"

ABSL_FLAG(std::string, outbox_target, "rabbitmq",
          "notification: where the outbox relay publishes committed messages, rabbitmq (the "
          "--amqp_* flags), kafka (the --kafka_* flags) or nats (JetStream, the --nats_* flags)");
ABSL_FLAG(std::string, kafka_brokers, "",
          "Kafka bootstrap servers, host:port[,host:port...] (empty keeps messages in the outbox)");
ABSL_FLAG(std::string, kafka_topic, "settle.payment-results",
          "Kafka topic of payment results; it must exist");
ABSL_FLAG(std::string, nats_url, "",
          "NATS servers, nats://host:port or tls://host:port[,...] (empty keeps messages in the "
          "outbox)");
ABSL_FLAG(std::string, nats_stream, "SETTLE_PAYMENT_RESULTS",
          "JetStream stream of payment results; created with file storage when missing");
ABSL_FLAG(std::string, nats_subject, "settle.payment-results",
          "subject payment results are published to; the stream must take it");
ABSL_FLAG(absl::Duration, nats_duplicate_window, absl::Minutes(2),
          "de-duplication window of the stream the relay creates: a message id seen within it "
          "is not stored again");
ABSL_FLAG(int, nats_replicas, 1,
          "replicas of the stream the relay creates (3 on a JetStream cluster: a single server "
          "acknowledges before its disk has the message)");
ABSL_FLAG(std::string, nats_ca_file, "", "trusted CAs (PEM) for a tls:// NATS server");
ABSL_FLAG(std::string, nats_creds_file, "",
          "NATS credentials file (user JWT and seed) when the server wants one");
ABSL_FLAG(std::string, kafka_config_file, "",
          "file of further librdkafka properties for a real cluster (security.protocol, ssl.*, "
          "sasl.*), one key=value a line");

namespace settle::participants {

absl::StatusOr<std::string> OutboxTargetName() {
  std::string name = absl::GetFlag(FLAGS_outbox_target);
  if (name != "rabbitmq" && name != "kafka" && name != "nats") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--outbox_target must be rabbitmq, kafka or nats, not '", name.substr(0, 32), "'"));
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

namespace {

absl::StatusOr<std::optional<OutboxTarget>> NatsTargetFromFlags() {
  messaging::NatsOptions nats;
  nats.url = absl::GetFlag(FLAGS_nats_url);
  if (nats.url.empty()) return std::nullopt;
  nats.stream = absl::GetFlag(FLAGS_nats_stream);
  nats.subject = absl::GetFlag(FLAGS_nats_subject);
  nats.duplicate_window = absl::GetFlag(FLAGS_nats_duplicate_window);
  nats.replicas = absl::GetFlag(FLAGS_nats_replicas);
  nats.ca_file = absl::GetFlag(FLAGS_nats_ca_file);
  nats.creds_file = absl::GetFlag(FLAGS_nats_creds_file);
  if (absl::Status s = CheckNatsOptions(nats); !s.ok()) return s;
  return OutboxTarget{"nats", nats.url,
                      [nats]() -> absl::StatusOr<std::unique_ptr<messaging::Publisher>> {
                        return messaging::NatsPublisher::Create(nats);
                      }};
}

}  // namespace

absl::Status CheckNatsOptions(const messaging::NatsOptions& nats) {
  // JetStream's names: a stream name has no '.', and neither has wildcards or spaces.
  if (nats.stream.empty() || nats.stream.size() > 255 ||
      nats.stream.find_first_of(" \t.*>") != std::string::npos) {
    return absl::InvalidArgumentError(
        "--nats_stream must be 1 to 255 characters without spaces, '.', '*' or '>'");
  }
  if (nats.subject.empty() || nats.subject.size() > 255 ||
      nats.subject.find_first_of(" \t*>") != std::string::npos || nats.subject.front() == '.' ||
      nats.subject.back() == '.' || nats.subject.find("..") != std::string::npos) {
    return absl::InvalidArgumentError(
        "--nats_subject must be 1 to 255 characters of dot-separated tokens, without spaces or "
        "wildcards");
  }
  // Shorter, and a relay's own republishing after a restart would get through it.
  if (nats.duplicate_window < absl::Seconds(1)) {
    return absl::InvalidArgumentError(absl::StrCat("--nats_duplicate_window must be at least 1s, not ",
                                                   absl::FormatDuration(nats.duplicate_window)));
  }
  if (nats.replicas < 1 || nats.replicas > 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("--nats_replicas must be 1 to 5 (JetStream's limit), not ", nats.replicas));
  }
  return absl::OkStatus();
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
  if (*name == "nats") return NatsTargetFromFlags();
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
