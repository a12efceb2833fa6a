#include "client/idempotent_consumer.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

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
  ConsumeStats stats;
  for (int i = 0; i < max; ++i) {
    auto delivery = channel_.Get(options_.queue);
    if (!delivery.ok()) return delivery.status();
    if (!delivery->has_value()) break;
    const messaging::AmqpDelivery& m = **delivery;
    if (m.message_id.empty()) {
      // Without an id it cannot be deduplicated: back to the queue, which dead-letters it past
      // its delivery limit.
      if (absl::Status s = channel_.Requeue(m.delivery_tag); !s.ok()) return s;
      ++stats.failed;
      continue;
    }
    const std::string dedup_key = kDedupPrefix + m.message_id;
    bool duplicate = false;
    absl::Status handled;
    absl::Status written = store_.SubmitAndWait([&](storage::WorkView& view) {
      auto seen = view.Get(Space::kMeta, dedup_key);
      if (!seen.ok()) {
        handled = seen.status();
        return false;
      }
      if (seen->has_value()) {
        duplicate = true;
        return false;
      }
      handled = handler_.Handle(m, view);
      if (!handled.ok()) return false;  // Its staged effect is dropped with the dedup record.
      view.Put(Space::kMeta, dedup_key, absl::StrCat(absl::ToUnixMicros(absl::Now())));
      return true;
    });
    if (!written.ok()) return written;  // Not acked: delivered again, then deduplicated.
    if (!duplicate && !handled.ok()) {
      if (absl::Status s = channel_.Requeue(m.delivery_tag); !s.ok()) return s;
      ++stats.failed;
      continue;
    }
    // Acked only once the effect (or the proof of an earlier one) is durable.
    if (absl::Status s = channel_.Ack(m.delivery_tag); !s.ok()) return s;
    ++(duplicate ? stats.duplicates : stats.handled);
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
