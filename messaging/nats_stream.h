#ifndef SETTLE_MESSAGING_NATS_STREAM_H_
#define SETTLE_MESSAGING_NATS_STREAM_H_

// TEST ONLY (linked by tests, never by a product binary): what a JetStream stream holds, read
// message by message through libnats, and a stream made to a test's liking.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "messaging/nats_publisher.h"

namespace settle::messaging {

struct NatsRecord {
  uint64_t sequence = 0;
  std::string message_id;  // Nats-Msg-Id.
  std::string key;         // Settle-Key.
  std::string content_type;
  std::string body;
};

struct NatsStreamFacts {
  bool file_storage = false;
  absl::Duration duplicate_window;
  uint64_t messages = 0;
};

// Every message `options.stream` holds, in order. UNAVAILABLE when the server cannot be
// reached; NOT_FOUND when the stream does not exist.
absl::StatusOr<std::vector<NatsRecord>> ReadNatsStream(const NatsOptions& options);

// The stream's storage, de-duplication window and message count.
absl::StatusOr<NatsStreamFacts> NatsStreamInfo(const NatsOptions& options);

// Creates `options.stream` on `options.subject` with memory storage (what the publisher must
// refuse).
absl::Status CreateMemoryNatsStream(const NatsOptions& options);

}  // namespace settle::messaging

#endif  // SETTLE_MESSAGING_NATS_STREAM_H_
