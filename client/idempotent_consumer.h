#ifndef SETTLE_CLIENT_IDEMPOTENT_CONSUMER_H_
#define SETTLE_CLIENT_IDEMPOTENT_CONSUMER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "messaging/amqp_channel.h"
#include "storage/branch_store.h"

namespace settle::sdk {

// A service's reaction to one message. Runs on the store's writer thread, one message at a time;
// stages its effect through `view` and must not block. An error drops the staged effect and
// hands the message back to the queue: it comes again (and is dead-lettered past the queue's
// delivery limit).
class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  virtual absl::Status Handle(const messaging::AmqpDelivery& message, storage::WorkView& view) = 0;
};

struct ConsumerOptions {
  std::string queue = "settle.payment-results";
  // Dedup records are removed this long after their message was handled; a copy of a message
  // that arrives later than that (a republish after a very long outage) would act again.
  absl::Duration dedup_retention = absl::Hours(24 * 7);
};

struct ConsumeStats {
  int handled = 0;     // The handler's effect was written and the message acked.
  int duplicates = 0;  // Seen before (redelivered or republished): acked and skipped.
  int failed = 0;      // The handler refused (or no id): requeued for redelivery.
};

// Consumes a queue so that every message acts once: the handler's effect and the message id's
// dedup record are written in one atomic, synced RocksDB batch before the message is acked. A
// crash between the write and the ack, a redelivery or a republish of the same id is acked and
// skipped. Not thread-safe (one AmqpChannel): use it from one thread. `store`, `channel` and
// `handler` must outlive it.
class IdempotentConsumer final {
 public:
  IdempotentConsumer(storage::BranchStore& store, messaging::AmqpChannel& channel,
                     MessageHandler& handler, ConsumerOptions options);

  // Takes up to `max` messages from the queue (fewer when it runs empty) and writes them as one
  // group: each message's effect and dedup record are atomic on their own (a refused one drops
  // only its own), all share one sync; then acks them. UNAVAILABLE when the broker or the store
  // failed: whatever was not acked is delivered again.
  absl::StatusOr<ConsumeStats> ConsumeOnce(int max);
  // Removes up to `max` dedup records older than `now - dedup_retention`; returns how many.
  absl::StatusOr<int> SweepDedupOnce(absl::Time now, int max);

 private:
  storage::BranchStore& store_;
  messaging::AmqpChannel& channel_;
  MessageHandler& handler_;
  const ConsumerOptions options_;
};

}  // namespace settle::sdk

#endif  // SETTLE_CLIENT_IDEMPOTENT_CONSUMER_H_
