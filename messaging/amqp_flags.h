#ifndef SETTLE_MESSAGING_AMQP_FLAGS_H_
#define SETTLE_MESSAGING_AMQP_FLAGS_H_

// The RabbitMQ flags shared by settle-participant (the notification outbox relay) and
// settle-notifier (the consumer): --amqp_host, --amqp_port, --amqp_user, --amqp_password_file,
// --amqp_exchange, --amqp_queue, --amqp_routing_key; each also SETTLE_AMQP_<NAME>.

#include "absl/status/statusor.h"
#include "messaging/amqp_channel.h"

namespace settle::messaging {

// True when --amqp_host is set.
bool AmqpConfigured();
// The options the flags give; INVALID_ARGUMENT naming the file when the password file cannot be
// read.
absl::StatusOr<AmqpOptions> AmqpOptionsFromFlags();

}  // namespace settle::messaging

#endif  // SETTLE_MESSAGING_AMQP_FLAGS_H_
