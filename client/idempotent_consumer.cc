#include "client/idempotent_consumer.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace settle::sdk {
namespace {

using storage::Space;

// The dedup record of a message id, in the SDK's meta space; its value is when it was handled.
constexpr char kDedupPrefix[] = "dedup/";

}  // namespace

IdempotentConsumer::IdempotentConsumer(storage::BranchStore& store, messaging::AmqpChannel& channel,
                                       MessageHandler& handler, ConsumerOptions options)
    : store_(store), channel_(channel), handler_(handler), options_(std::move(options)) {}

absl::StatusOr<ConsumeStats> IdempotentConsumer::ConsumeOnce(int max) {
  // Takes what the queue holds (up to `max`), then hands every message to the store at once:
  // each is its own unit of work (its effect and dedup record atomic, apart from the others'),
  // and the units share one synced write (group commit) instead of one sync per message.
  struct Taken {
    messaging::AmqpDelivery message;
    bool duplicate = false;
    absl::Status handled;
  };
  std::vector<Taken> taken;
  for (int i = 0; i < max; ++i) {
    auto delivery = channel_.Get(options_.queue);
    if (!delivery.ok()) return delivery.status();  // Unacked ones come again.
    if (!delivery->has_value()) break;
    taken.push_back({std::move(**delivery), false, absl::OkStatus()});
  }
  absl::Mutex mu;
  int pending = static_cast<int>(taken.size());
  absl::Status written;
  for (Taken& t : taken) {
    if (t.message.message_id.empty()) {
      // Without an id it cannot be deduplicated: back to the queue, which dead-letters it past
      // its delivery limit.
      t.handled = absl::InvalidArgumentError("a message without an id");
      absl::MutexLock lock(&mu);
      --pending;
      continue;
    }
    const std::string dedup_key = kDedupPrefix + t.message.message_id;
    store_.Submit(
        [&t, dedup_key, this](storage::WorkView& view) {
          t.handled = absl::OkStatus();  // A SQL store may run the unit again.
          t.duplicate = false;
          auto seen = view.Get(Space::kMeta, dedup_key);
          if (!seen.ok()) {
            t.handled = seen.status();
            return false;
          }
          if (seen->has_value()) {
            t.duplicate = true;
            return false;
          }
          t.handled = handler_.Handle(t.message, view);
          if (!t.handled.ok()) return false;  // Its staged effect is dropped with the dedup record.
          view.Put(Space::kMeta, dedup_key, absl::StrCat(absl::ToUnixMicros(absl::Now())));
          return true;
        },
        [&](absl::Status s) {
          absl::MutexLock lock(&mu);
          if (!s.ok() && written.ok()) written = s;
          --pending;
        });
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &pending));
  }
  if (!written.ok()) return written;  // Not acked: delivered again, then deduplicated.
  ConsumeStats stats;
  for (const Taken& t : taken) {
    if (!t.duplicate && !t.handled.ok()) {
      if (absl::Status s = channel_.Requeue(t.message.delivery_tag); !s.ok()) return s;
      ++stats.failed;
      continue;
    }
    // Acked only once the effect (or the proof of an earlier one) is durable.
    if (absl::Status s = channel_.Ack(t.message.delivery_tag); !s.ok()) return s;
    ++(t.duplicate ? stats.duplicates : stats.handled);
  }
  return stats;
}

absl::StatusOr<int> IdempotentConsumer::SweepDedupOnce(absl::Time now, int max) {
  const int64_t cutoff = absl::ToUnixMicros(now - options_.dedup_retention);
  std::vector<std::string> expired;
  absl::Status s = store_.Scan(
      Space::kMeta, kDedupPrefix, "", [&](const std::string& key, const std::string& value) {
        int64_t handled_micros = 0;
        if (absl::SimpleAtoi(value, &handled_micros) && handled_micros < cutoff) {
          expired.push_back(key);
        }
        return static_cast<int>(expired.size()) < max;
      });
  if (!s.ok()) return s;
  if (expired.empty()) return 0;
  s = store_.SubmitAndWait([&](storage::WorkView& view) {
    for (const std::string& key : expired) view.Delete(Space::kMeta, key);
    return true;
  });
  if (!s.ok()) return s;
  return static_cast<int>(expired.size());
}

}  // namespace settle::sdk
