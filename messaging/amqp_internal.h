#ifndef SETTLE_MESSAGING_AMQP_INTERNAL_H_
#define SETTLE_MESSAGING_AMQP_INTERNAL_H_

// What the rabbitmq-c wrappers of messaging/ share (amqp_channel.cc, amqp_rpc.cc): one
// connection with one channel, and the one place rabbitmq-c's errors become statuses. Included
// by nothing outside messaging/.

#include <amqp.h>
#include <amqp_framing.h>
#include <sys/time.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "messaging/amqp_channel.h"

namespace settle::messaging::internal {

constexpr amqp_channel_t kChannel = 1;

inline amqp_bytes_t Bytes(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}
inline std::string String(amqp_bytes_t b) {
  return b.bytes == nullptr ? std::string() : std::string(static_cast<const char*>(b.bytes), b.len);
}
timeval Timeval(absl::Duration d);

// A closed channel or connection is UNAVAILABLE (connect again), except what reconnecting
// cannot fix: a topology declared elsewhere with other arguments (406, FAILED_PRECONDITION) or
// refused credentials (403, PERMISSION_DENIED).
absl::Status FromReply(const amqp_rpc_reply_t& r, absl::string_view what);
absl::Status FromCode(int code, absl::string_view what);
// The status of a channel.close or connection.close frame the broker sent.
absl::Status FromCloseFrame(const amqp_frame_t& frame, absl::string_view what);

amqp_table_entry_t Utf8Arg(const char* key, const std::string& value);
amqp_table_entry_t IntArg(const char* key, int32_t value);

// One connection with channel kChannel open. Closed gracefully at destruction only when
// nothing failed on it (`healthy`).
struct Connection {
  amqp_connection_state_t state = amqp_new_connection();
  bool healthy = false;
  ~Connection();
};

// Connects and logs in per `options`, opens the channel, and puts it in confirm mode when
// `confirms`. Every later call that waits for the broker is bounded by connect_timeout.
absl::StatusOr<std::unique_ptr<Connection>> OpenConnection(const AmqpOptions& options,
                                                           bool confirms);

// Runs after a synchronous rabbitmq-c call on `conn`: its status, marking the connection
// unhealthy on failure.
absl::Status Check(Connection& conn, absl::string_view what);

}  // namespace settle::messaging::internal

#endif  // SETTLE_MESSAGING_AMQP_INTERNAL_H_
