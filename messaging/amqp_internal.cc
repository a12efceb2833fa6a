#include "messaging/amqp_internal.h"

#include <amqp_tcp_socket.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace settle::messaging::internal {

timeval Timeval(absl::Duration d) { return absl::ToTimeval(std::max(d, absl::ZeroDuration())); }

absl::Status FromReply(const amqp_rpc_reply_t& r, absl::string_view what) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return absl::OkStatus();
    case AMQP_RESPONSE_NONE:
      return absl::UnavailableError(absl::StrCat(what, ": RabbitMQ sent no reply"));
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return absl::UnavailableError(absl::StrCat(what, ": ", amqp_error_string2(r.library_error)));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      break;
  }
  uint16_t code = 0;
  std::string text;
  if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    const auto* m = static_cast<const amqp_connection_close_t*>(r.reply.decoded);
    code = m->reply_code;
    text = String(m->reply_text);
  } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    const auto* m = static_cast<const amqp_channel_close_t*>(r.reply.decoded);
    code = m->reply_code;
    text = String(m->reply_text);
  }
  const std::string message =
      absl::StrCat(what, ": RabbitMQ closed the channel (", code, " ", text, ")");
  if (code == 406) return absl::FailedPreconditionError(message);
  if (code == 403) return absl::PermissionDeniedError(message);
  return absl::UnavailableError(message);
}

absl::Status FromCode(int code, absl::string_view what) {
  if (code == AMQP_STATUS_OK) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", amqp_error_string2(code)));
}

absl::Status FromCloseFrame(const amqp_frame_t& frame, absl::string_view what) {
  amqp_rpc_reply_t r;
  r.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION;
  r.reply = frame.payload.method;
  return FromReply(r, what);
}

amqp_table_entry_t Utf8Arg(const char* key, const std::string& value) {
  amqp_table_entry_t e;
  e.key = amqp_cstring_bytes(key);
  e.value.kind = AMQP_FIELD_KIND_UTF8;
  e.value.value.bytes = Bytes(value);
  return e;
}

amqp_table_entry_t IntArg(const char* key, int32_t value) {
  amqp_table_entry_t e;
  e.key = amqp_cstring_bytes(key);
  e.value.kind = AMQP_FIELD_KIND_I32;
  e.value.value.i32 = value;
  return e;
}

Connection::~Connection() {
  if (healthy) {
    amqp_channel_close(state, kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(state, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(state);
}

absl::Status Check(Connection& conn, absl::string_view what) {
  absl::Status s = FromReply(amqp_get_rpc_reply(conn.state), what);
  if (!s.ok()) conn.healthy = false;
  return s;
}

absl::StatusOr<std::unique_ptr<Connection>> OpenConnection(const AmqpOptions& options,
                                                           bool confirms) {
  auto conn = std::make_unique<Connection>();
  amqp_socket_t* socket = amqp_tcp_socket_new(conn->state);
  if (socket == nullptr) return absl::InternalError("rabbitmq-c could not make a socket");
  timeval timeout = Timeval(options.connect_timeout);
  const std::string where = absl::StrCat("RabbitMQ at ", options.host, ":", options.port);
  if (absl::Status s =
          FromCode(amqp_socket_open_noblock(socket, options.host.c_str(), options.port, &timeout),
                   absl::StrCat("cannot connect to ", where));
      !s.ok()) {
    return s;
  }
  amqp_set_rpc_timeout(conn->state, &timeout);
  if (absl::Status s = FromReply(
          amqp_login(conn->state, options.vhost.c_str(), 0, 131072, /*heartbeat=*/0,
                     AMQP_SASL_METHOD_PLAIN, options.user.c_str(), options.password.c_str()),
          absl::StrCat("cannot log in to ", where, " as ", options.user));
      !s.ok()) {
    return s;
  }
  amqp_channel_open(conn->state, kChannel);
  if (absl::Status s = FromReply(amqp_get_rpc_reply(conn->state), "cannot open a channel");
      !s.ok()) {
    return s;
  }
  if (confirms) {
    amqp_confirm_select(conn->state, kChannel);
    if (absl::Status s = FromReply(amqp_get_rpc_reply(conn->state), "cannot select confirms");
        !s.ok()) {
      return s;
    }
  }
  conn->healthy = true;
  return conn;
}

}  // namespace settle::messaging::internal
