#ifndef SETTLE_PARTICIPANTS_OUTBOX_RELAY_H_
#define SETTLE_PARTICIPANTS_OUTBOX_RELAY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "messaging/publisher.h"
#include "participants/relay_metrics.h"
#include "storage/branch_store.h"

namespace settle::participants {

// Where the relay publishes: RabbitMQ, Kafka or NATS JetStream, behind one interface.
struct OutboxTarget {
  std::string name;     // "rabbitmq", "kafka" or "nats": logs and the metrics' label.
  std::string address;  // The broker, for logs.
  messaging::PublisherFactory connect;
};

struct OutboxRelayOptions {
  int window = 256;  // Messages published per round, then confirmed together.
  absl::Duration confirm_timeout = absl::Seconds(10);
  absl::Duration poll_interval = absl::Milliseconds(50);  // While the outbox is empty.
  // Reconnection after a failure: capped exponential backoff with full jitter.
  absl::Duration backoff_initial = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(10);
  // PUBLISHED messages are removed this long after the broker confirmed them (the admin list
  // shows them meanwhile), looked for every `sweep_interval`, at most 1,000 per write.
  absl::Duration published_retention = absl::Hours(24 * 7);
  absl::Duration sweep_interval = absl::Minutes(1);
  // Test-only crash point: runs after the broker confirmed a batch and before it is marked
  // PUBLISHED. Fault tests make it kill the process there. Unset in every normal configuration.
  std::function<void()> on_confirmed_ForTest;
};

// Moves the notification participant's committed messages from its outbox to the broker
// (RabbitMQ, Kafka or NATS JetStream). Only READY messages (committed) are in the outbox index,
// so nothing of an aborted transaction is ever published. A message is marked PUBLISHED, and
// leaves the index, only after the broker confirmed it; one the broker did not confirm, or a
// broker that is away, leaves it READY to be published again, with its stable id (txn
// id/branch) so that consumers drop the duplicate.
//
// Thread-safe: one background thread owns the publisher; Start() and Stop() from anywhere.
// `store` and `metrics` (may be null) must outlive it.
class OutboxRelay final {
 public:
  OutboxRelay(storage::BranchStore& store, OutboxTarget target, OutboxRelayOptions options,
              RelayMetrics* metrics);
  ~OutboxRelay();
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  void Start() ABSL_LOCKS_EXCLUDED(mu_);
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Removes up to `max` PUBLISHED messages confirmed before `now - published_retention`; READY
  // ones stay whatever their age. Returns how many went. Blocks on the store's writer: runs on
  // the relay's thread (or a test's, which passes a future `now`).
  absl::StatusOr<int> SweepPublishedOnce(absl::Time now, int max);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // One round: publishes up to `window` ready messages and marks the confirmed ones. Returns
  // how many were published; UNAVAILABLE (and friends) when the channel failed.
  absl::StatusOr<int> PublishRound(messaging::Publisher& publisher);
  // Sets the outbox gauges (depth, oldest age) from the store.
  void MeasureOutbox();
  // Waits `d` or until Stop(); false once stopping.
  bool Pause(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);

  storage::BranchStore& store_;
  const OutboxTarget target_;
  const OutboxRelayOptions options_;
  RelayMetrics* const metrics_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace settle::participants

#endif  // SETTLE_PARTICIPANTS_OUTBOX_RELAY_H_
