#include "messaging/amqp_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"

ABSL_FLAG(std::string, amqp_host, "",
          "RabbitMQ host: the coordinator reaches amqp: participants through it; a participant "
          "serves --amqp_requests from it; the notification participant's outbox relay "
          "publishes committed messages there (empty keeps them in the outbox); settle-notifier "
          "consumes from it");
ABSL_FLAG(int32_t, amqp_port, 5672, "RabbitMQ port");
ABSL_FLAG(std::string, amqp_user, "guest", "RabbitMQ user");
ABSL_FLAG(std::string, amqp_password_file, "",
          "file holding the RabbitMQ password (empty: 'guest')");
ABSL_FLAG(std::string, amqp_exchange, "settle.payments", "durable exchange of payment results");
ABSL_FLAG(std::string, amqp_queue, "settle.payment-results",
          "durable quorum queue bound to the exchange");
ABSL_FLAG(std::string, amqp_routing_key, "payment.result", "routing key of payment results");

namespace settle::messaging {

bool AmqpConfigured() { return !absl::GetFlag(FLAGS_amqp_host).empty(); }

absl::StatusOr<AmqpOptions> AmqpOptionsFromFlags() {
  AmqpOptions amqp;
  amqp.host = absl::GetFlag(FLAGS_amqp_host);
  amqp.port = absl::GetFlag(FLAGS_amqp_port);
  amqp.user = absl::GetFlag(FLAGS_amqp_user);
  if (const std::string file = absl::GetFlag(FLAGS_amqp_password_file); !file.empty()) {
    auto password = crypto::ReadSecretFile(file);
    if (!password.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--amqp_password_file: ", password.status().message()));
    }
    amqp.password = *password;
  }
  amqp.exchange = absl::GetFlag(FLAGS_amqp_exchange);
  amqp.queue = absl::GetFlag(FLAGS_amqp_queue);
  amqp.routing_key = absl::GetFlag(FLAGS_amqp_routing_key);
  return amqp;
}

}  // namespace settle::messaging
