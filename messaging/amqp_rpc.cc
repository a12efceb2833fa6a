#include "messaging/amqp_rpc.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "messaging/amqp_internal.h"

namespace settle::messaging {

using internal::Bytes;
using internal::FromCode;
using internal::FromReply;
using internal::kChannel;
using internal::String;

namespace {

constexpr char kContentType[] = "application/x-protobuf";

std::string Property(const amqp_basic_properties_t& p, amqp_flags_t flag, amqp_bytes_t value) {
  return (p._flags & flag) ? String(value) : std::string();
}

}  // namespace

RpcWaker::RpcWaker() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

RpcWaker::~RpcWaker() {
  if (fd_ >= 0) close(fd_);
}

void RpcWaker::Wake() {
  const uint64_t one = 1;
  // A full counter (never, in practice) still leaves the fd readable: the wake-up is not lost.
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof(one));
}

RpcChannel::RpcChannel(std::unique_ptr<internal::Connection> conn) : conn_(std::move(conn)) {}

RpcChannel::~RpcChannel() = default;

absl::StatusOr<std::unique_ptr<RpcChannel>> RpcChannel::Connect(const AmqpOptions& options) {
  auto conn = internal::OpenConnection(options, /*confirms=*/false);
  if (!conn.ok()) return conn.status();
  return std::unique_ptr<RpcChannel>(new RpcChannel(std::move(*conn)));
}

absl::Status RpcChannel::DeclareDurableQueue(const std::string& name) {
  if (!conn_->healthy) return absl::UnavailableError("the AMQP channel failed; connect again");
  amqp_queue_declare(conn_->state, kChannel, Bytes(name), /*passive=*/0, /*durable=*/1,
                     /*exclusive=*/0, /*auto_delete=*/0, amqp_empty_table);
  return internal::Check(*conn_, absl::StrCat("cannot declare queue ", name));
}

absl::StatusOr<std::string> RpcChannel::DeclareReplyQueue() {
  if (!conn_->healthy) return absl::UnavailableError("the AMQP channel failed; connect again");
  amqp_queue_declare_ok_t* ok =
      amqp_queue_declare(conn_->state, kChannel, amqp_empty_bytes, /*passive=*/0, /*durable=*/0,
                         /*exclusive=*/1, /*auto_delete=*/1, amqp_empty_table);
  if (absl::Status s = internal::Check(*conn_, "cannot declare a reply queue"); !s.ok()) return s;
  return String(ok->queue);
}

absl::Status RpcChannel::Consume(const std::string& queue, int prefetch) {
  if (!conn_->healthy) return absl::UnavailableError("the AMQP channel failed; connect again");
  if (prefetch > 0) {
    amqp_basic_qos(conn_->state, kChannel, 0, static_cast<uint16_t>(std::min(prefetch, 65535)),
                   /*global=*/0);
    if (absl::Status s = internal::Check(*conn_, "cannot set the prefetch"); !s.ok()) return s;
  }
  amqp_basic_consume_ok_t* ok =
      amqp_basic_consume(conn_->state, kChannel, Bytes(queue), amqp_empty_bytes, /*no_local=*/0,
                         /*no_ack=*/prefetch == 0 ? 1 : 0, /*exclusive=*/0, amqp_empty_table);
  if (absl::Status s = internal::Check(*conn_, absl::StrCat("cannot consume ", queue)); !s.ok()) {
    return s;
  }
  consumer_tag_ = String(ok->consumer_tag);
  return absl::OkStatus();
}

absl::Status RpcChannel::Publish(const RpcMessage& m) {
  if (!conn_->healthy) return absl::UnavailableError("the AMQP channel failed; connect again");
  amqp_basic_properties_t props;
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG;
  props.content_type = amqp_cstring_bytes(kContentType);
  props.correlation_id = Bytes(m.correlation_id);
  if (!m.reply_to.empty()) {
    props._flags |= AMQP_BASIC_REPLY_TO_FLAG;
    props.reply_to = Bytes(m.reply_to);
  }
  std::string expiration;
  if (m.request) {
    props._flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  }
  if (m.ttl > absl::ZeroDuration()) {
    expiration = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(m.ttl)));
    props._flags |= AMQP_BASIC_EXPIRATION_FLAG;
    props.expiration = Bytes(expiration);
  }
  const int rc =
      amqp_basic_publish(conn_->state, kChannel, amqp_empty_bytes, Bytes(m.queue),
                         /*mandatory=*/m.request ? 1 : 0, /*immediate=*/0, &props, Bytes(m.body));
  if (rc != AMQP_STATUS_OK) conn_->healthy = false;
  return FromCode(rc, "cannot publish");
}

absl::Status RpcChannel::Ack(uint64_t delivery_tag) {
  if (!conn_->healthy) return absl::UnavailableError("the AMQP channel failed; connect again");
  const int rc = amqp_basic_ack(conn_->state, kChannel, delivery_tag, /*multiple=*/0);
  if (rc != AMQP_STATUS_OK) conn_->healthy = false;
  return FromCode(rc, "cannot ack");
}

absl::StatusOr<RpcEvent> RpcChannel::Wait(absl::Duration timeout, RpcWaker& waker) {
  if (!conn_->healthy) return absl::UnavailableError("the AMQP channel failed; connect again");
  amqp_connection_state_t st = conn_->state;
  // rabbitmq-c may hold whole frames already read; only an empty buffer waits on the socket.
  if (!amqp_data_in_buffer(st) && !amqp_frames_enqueued(st)) {
    pollfd fds[2] = {{amqp_get_sockfd(st), POLLIN, 0}, {waker.fd(), POLLIN, 0}};
    const int ms = static_cast<int>(std::clamp<int64_t>(
        absl::ToInt64Milliseconds(absl::Ceil(timeout, absl::Milliseconds(1))), 0, 60000));
    if (poll(fds, 2, ms) < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (fds[1].revents & POLLIN) {
      uint64_t count;
      [[maybe_unused]] ssize_t n = read(waker.fd(), &count, sizeof(count));
    }
    if (!(fds[0].revents & (POLLIN | POLLERR | POLLHUP))) return RpcEvent{};
  }
  amqp_maybe_release_buffers(st);
  amqp_envelope_t envelope;
  timeval now = {0, 0};
  const amqp_rpc_reply_t r = amqp_consume_message(st, &envelope, &now, 0);
  if (r.reply_type == AMQP_RESPONSE_NORMAL) {
    RpcEvent e;
    e.kind = RpcEvent::Kind::kDelivery;
    e.delivery_tag = envelope.delivery_tag;
    e.redelivered = envelope.redelivered != 0;
    const amqp_basic_properties_t& p = envelope.message.properties;
    e.correlation_id = Property(p, AMQP_BASIC_CORRELATION_ID_FLAG, p.correlation_id);
    e.reply_to = Property(p, AMQP_BASIC_REPLY_TO_FLAG, p.reply_to);
    e.body = String(envelope.message.body);
    amqp_destroy_envelope(&envelope);
    return e;
  }
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
    return RpcEvent{};  // Part of a frame so far.
  }
  if (r.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION ||
      r.library_error != AMQP_STATUS_UNEXPECTED_STATE) {
    conn_->healthy = false;
    return FromReply(r, "lost RabbitMQ while consuming");
  }
  // Not a delivery: a returned request, or the broker closing the channel.
  amqp_frame_t frame;
  const int rc = amqp_simple_wait_frame_noblock(st, &frame, &now);
  if (rc == AMQP_STATUS_TIMEOUT) return RpcEvent{};
  if (rc != AMQP_STATUS_OK) {
    conn_->healthy = false;
    return FromCode(rc, "lost RabbitMQ while consuming");
  }
  if (frame.frame_type != AMQP_FRAME_METHOD) return RpcEvent{};
  switch (frame.payload.method.id) {
    case AMQP_BASIC_RETURN_METHOD: {
      RpcEvent e;
      e.kind = RpcEvent::Kind::kReturned;
      e.queue = String(
          static_cast<const amqp_basic_return_t*>(frame.payload.method.decoded)->routing_key);
      amqp_message_t msg;
      const amqp_rpc_reply_t read = amqp_read_message(st, frame.channel, &msg, 0);
      if (read.reply_type != AMQP_RESPONSE_NORMAL) {
        conn_->healthy = false;
        return FromReply(read, "cannot read a returned message");
      }
      e.correlation_id =
          Property(msg.properties, AMQP_BASIC_CORRELATION_ID_FLAG, msg.properties.correlation_id);
      amqp_destroy_message(&msg);
      return e;
    }
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
      conn_->healthy = false;
      return internal::FromCloseFrame(frame, "RabbitMQ closed the channel");
    default:
      return RpcEvent{};
  }
}

}  // namespace settle::messaging
