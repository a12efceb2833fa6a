#ifndef SETTLE_MESSAGING_NATS_INTERNAL_H_
#define SETTLE_MESSAGING_NATS_INTERNAL_H_

// What the NATS publisher and the tests' stream reader share: one connection made from
// NatsOptions, and libnats's errors as statuses. Includes libnats: messaging/ only.

#include <nats/nats.h>

#include <string>

#include "absl/status/status.h"
#include "messaging/nats_publisher.h"

namespace settle::messaging {

// JetStream's de-duplication header: the message's id.
inline constexpr char kMsgIdHeader[] = "Nats-Msg-Id";
// The message's key (its transaction) and content type.
inline constexpr char kKeyHeader[] = "Settle-Key";
inline constexpr char kContentTypeHeader[] = "Content-Type";

// A libnats status (and JetStream error code, when there is one) as a status naming `what`:
// UNAVAILABLE when no server can be reached or the connection is gone, FAILED_PRECONDITION
// when the server has no JetStream, INVALID_ARGUMENT for what the options got wrong.
absl::Status NatsError(const std::string& what, natsStatus s, jsErrCode code = jsErrCode{});

// Creates `options.stream` on `options.subject` with `storage`, `options.replicas` and
// `options.duplicate_window`.
absl::Status AddNatsStream(jsCtx* js, const NatsOptions& options, jsStorageType storage);

// One connection with reconnecting off. Not thread-safe; libnats's own threads are its own.
class NatsConnection {
 public:
  NatsConnection() = default;
  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;

  absl::Status Connect(const NatsOptions& options);
  natsConnection* get() const { return nc_; }
  bool Connected() const;
  // Closes the connection: libnats calls back no more after it returns.
  void Close();

 private:
  natsConnection* nc_ = nullptr;
};

}  // namespace settle::messaging

#endif  // SETTLE_MESSAGING_NATS_INTERNAL_H_
