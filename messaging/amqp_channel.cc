#include "messaging/amqp_channel.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "messaging/amqp_internal.h"

namespace settle::messaging {

using internal::Bytes;
using internal::FromCode;
using internal::FromReply;
using internal::IntArg;
using internal::kChannel;
using internal::String;
using internal::Timeval;
using internal::Utf8Arg;

AmqpChannel::AmqpChannel(std::unique_ptr<internal::Connection> conn, AmqpOptions options)
    : conn_(std::move(conn)), options_(std::move(options)) {}

AmqpChannel::~AmqpChannel() = default;

absl::StatusOr<std::unique_ptr<AmqpChannel>> AmqpChannel::Connect(const AmqpOptions& options) {
  auto conn = internal::OpenConnection(options, /*confirms=*/true);
  if (!conn.ok()) return conn.status();
  std::unique_ptr<AmqpChannel> channel(new AmqpChannel(std::move(*conn), options));
  if (absl::Status s = channel->DeclareTopology(); !s.ok()) return s;
  return channel;
}

absl::Status AmqpChannel::DeclareTopology() {
  amqp_connection_state_t st = conn_->state;
  auto check = [&](absl::string_view what) { return internal::Check(*conn_, what); };
  const std::string quorum = "quorum";
  amqp_exchange_declare(st, kChannel, Bytes(options_.dead_letter_exchange),
                        amqp_cstring_bytes("fanout"), /*passive=*/0, /*durable=*/1,
                        /*auto_delete=*/0, /*internal=*/0, amqp_empty_table);
  if (absl::Status s = check("cannot declare the dead-letter exchange"); !s.ok()) return s;
  amqp_table_entry_t dead_args[] = {Utf8Arg("x-queue-type", quorum)};
  amqp_queue_declare(st, kChannel, Bytes(options_.dead_letter_queue), /*passive=*/0,
                     /*durable=*/1, /*exclusive=*/0, /*auto_delete=*/0, amqp_table_t{1, dead_args});
  if (absl::Status s = check("cannot declare the dead-letter queue"); !s.ok()) return s;
  amqp_queue_bind(st, kChannel, Bytes(options_.dead_letter_queue),
                  Bytes(options_.dead_letter_exchange), amqp_cstring_bytes(""), amqp_empty_table);
  if (absl::Status s = check("cannot bind the dead-letter queue"); !s.ok()) return s;

  amqp_exchange_declare(st, kChannel, Bytes(options_.exchange), amqp_cstring_bytes("direct"),
                        /*passive=*/0, /*durable=*/1, /*auto_delete=*/0, /*internal=*/0,
                        amqp_empty_table);
  if (absl::Status s = check("cannot declare the exchange"); !s.ok()) return s;
  // A quorum queue is replicated and durable; the delivery limit dead-letters a message a
  // consumer keeps failing on instead of redelivering it for ever.
  amqp_table_entry_t args[] = {Utf8Arg("x-queue-type", quorum),
                               IntArg("x-delivery-limit", options_.delivery_limit),
                               Utf8Arg("x-dead-letter-exchange", options_.dead_letter_exchange)};
  amqp_queue_declare(st, kChannel, Bytes(options_.queue), /*passive=*/0, /*durable=*/1,
                     /*exclusive=*/0, /*auto_delete=*/0, amqp_table_t{3, args});
  if (absl::Status s = check("cannot declare the queue"); !s.ok()) return s;
  amqp_queue_bind(st, kChannel, Bytes(options_.queue), Bytes(options_.exchange),
                  Bytes(options_.routing_key), amqp_empty_table);
  return check("cannot bind the queue");
}

absl::StatusOr<std::vector<bool>> AmqpChannel::PublishConfirmed(
    const std::vector<OutboundMessage>& batch, absl::Time deadline) {
  if (!conn_->healthy) return absl::UnavailableError("the AMQP channel failed; connect again");
  amqp_connection_state_t st = conn_->state;
  const uint64_t first_tag = next_delivery_tag_;
  for (const OutboundMessage& m : batch) {
    amqp_basic_properties_t props;
    props._flags =
        AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
    props.content_type = Bytes(m.content_type);
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.message_id = Bytes(m.message_id);
    const std::string& key = m.routing_key.empty() ? options_.routing_key : m.routing_key;
    const int rc = amqp_basic_publish(st, kChannel, Bytes(options_.exchange), Bytes(key),
                                      /*mandatory=*/1,
                                      /*immediate=*/0, &props, Bytes(m.body));
    if (rc != AMQP_STATUS_OK) {
      conn_->healthy = false;
      return FromCode(rc, "cannot publish");
    }
    ++next_delivery_tag_;
  }

  std::vector<bool> published(batch.size(), false), returned(batch.size(), false),
      settled(batch.size(), false);
  size_t pending = batch.size();
  // An ack or nack settles one tag, or with `multiple` every tag up to it.
  auto settle = [&](uint64_t tag, bool multiple, bool acked) {
    for (size_t i = 0; i < batch.size(); ++i) {
      const uint64_t t = first_tag + i;
      if (settled[i] || (multiple ? t > tag : t != tag)) continue;
      settled[i] = true;
      published[i] = acked && !returned[i];
      --pending;
    }
  };
  while (pending > 0) {
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          pending, " of ", batch.size(), " messages unconfirmed by the deadline; publish again"));
    }
    timeval wait = Timeval(deadline - now);
    amqp_frame_t frame;
    const int rc = amqp_simple_wait_frame_noblock(st, &frame, &wait);
    if (rc == AMQP_STATUS_TIMEOUT) continue;
    if (rc != AMQP_STATUS_OK) {
      conn_->healthy = false;
      return FromCode(rc, "lost RabbitMQ while waiting for confirms");
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
        settle(ack->delivery_tag, ack->multiple, /*acked=*/true);
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
        settle(nack->delivery_tag, nack->multiple, /*acked=*/false);
        break;
      }
      case AMQP_BASIC_RETURN_METHOD: {
        // Unroutable: the broker returns it (its header and body follow), then acks it.
        amqp_message_t msg;
        const amqp_rpc_reply_t r = amqp_read_message(st, frame.channel, &msg, 0);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
          conn_->healthy = false;
          return FromReply(r, "cannot read a returned message");
        }
        const std::string id = (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
                                   ? String(msg.properties.message_id)
                                   : std::string();
        for (size_t i = 0; i < batch.size(); ++i) {
          if (!settled[i] && batch[i].message_id == id) returned[i] = true;
        }
        amqp_destroy_message(&msg);
        break;
      }
      case AMQP_CHANNEL_CLOSE_METHOD:
      case AMQP_CONNECTION_CLOSE_METHOD:
        conn_->healthy = false;
        return internal::FromCloseFrame(frame, "RabbitMQ closed the channel while confirming");
      default:
        break;
    }
  }
  amqp_maybe_release_buffers(st);
  return published;
}

absl::StatusOr<std::optional<AmqpDelivery>> AmqpChannel::Get(const std::string& queue) {
  if (!conn_->healthy) return absl::UnavailableError("the AMQP channel failed; connect again");
  amqp_connection_state_t st = conn_->state;
  const amqp_rpc_reply_t r = amqp_basic_get(st, kChannel, Bytes(queue), /*no_ack=*/0);
  if (absl::Status s = FromReply(r, absl::StrCat("cannot get from ", queue)); !s.ok()) {
    conn_->healthy = false;
    return s;
  }
  if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) return std::nullopt;
  const auto* ok = static_cast<const amqp_basic_get_ok_t*>(r.reply.decoded);
  AmqpDelivery d;
  d.delivery_tag = ok->delivery_tag;
  d.redelivered = ok->redelivered != 0;
  amqp_message_t msg;
  const amqp_rpc_reply_t read = amqp_read_message(st, kChannel, &msg, 0);
  if (absl::Status s = FromReply(read, "cannot read a message"); !s.ok()) {
    conn_->healthy = false;
    return s;
  }
  if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
    d.message_id = String(msg.properties.message_id);
  }
  d.body = String(msg.body);
  amqp_destroy_message(&msg);
  amqp_maybe_release_buffers(st);
  return std::optional<AmqpDelivery>(std::move(d));
}

absl::Status AmqpChannel::Ack(uint64_t delivery_tag) {
  if (!conn_->healthy) return absl::UnavailableError("the AMQP channel failed; connect again");
  absl::Status s =
      FromCode(amqp_basic_ack(conn_->state, kChannel, delivery_tag, /*multiple=*/0), "cannot ack");
  if (!s.ok()) conn_->healthy = false;
  return s;
}

absl::Status AmqpChannel::Requeue(uint64_t delivery_tag) {
  if (!conn_->healthy) return absl::UnavailableError("the AMQP channel failed; connect again");
  absl::Status s = FromCode(amqp_basic_reject(conn_->state, kChannel, delivery_tag, /*requeue=*/1),
                            "cannot requeue");
  if (!s.ok()) conn_->healthy = false;
  return s;
}

}  // namespace settle::messaging
