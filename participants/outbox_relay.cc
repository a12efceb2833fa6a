#include "participants/outbox_relay.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/json_log.h"
#include "google/protobuf/util/json_util.h"
#include "settle/v1/reference.pb.h"

namespace settle::participants {
namespace {

using storage::Space;

constexpr char kOutboxPrefix[] = "outbox/";
constexpr char kMessagePrefix[] = "msg/";
constexpr int kSweepBatch = 1000;

}  // namespace

OutboxRelay::OutboxRelay(storage::BranchStore& store, OutboxTarget target,
                         OutboxRelayOptions options, RelayMetrics* metrics)
    : store_(store), target_(std::move(target)), options_(options), metrics_(metrics) {}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void OutboxRelay::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool OutboxRelay::Pause(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stop_), d);
  return !stop_;
}

void OutboxRelay::Run() {
  std::unique_ptr<messaging::Publisher> publisher;
  int failures = 0;
  absl::Time next_sweep = absl::Now();
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    if (absl::Now() >= next_sweep) {
      // Whatever the broker's state: confirmed messages age out even while it is away.
      auto removed = SweepPublishedOnce(absl::Now(), kSweepBatch);
      next_sweep =
          absl::Now() + (removed.ok() && *removed == kSweepBatch ? absl::ZeroDuration()
                                                                 : options_.sweep_interval);
    }
    absl::Status failed;
    if (publisher == nullptr) {
      auto c = target_.connect();
      if (c.ok()) {
        publisher = std::move(*c);
        if (metrics_ != nullptr) metrics_->SetConnected(true);
        Log(LogLevel::kInfo, "outbox relay connected",
            {{"target", target_.name}, {"broker", target_.address}});
        failures = 0;
      } else {
        failed = c.status();
      }
    }
    if (failed.ok()) {
      auto published = PublishRound(*publisher);
      if (published.ok()) {
        if (*published == 0 && !Pause(options_.poll_interval)) return;
        continue;
      }
      failed = published.status();
      publisher.reset();
      if (metrics_ != nullptr) metrics_->SetConnected(false);
    }
    // The broker is away or refused: what was not confirmed stays READY and goes again after a
    // capped, jittered pause, so a broker that comes back is not stormed.
    ++failures;
    if (failures == 1 || failures % 20 == 0) {
      Log(LogLevel::kWarning, "outbox relay cannot publish; retrying",
          {{"target", target_.name},
           {"broker", target_.address},
           {"attempt", absl::StrCat(failures)},
           {"error", failed.ToString()}});
    }
    MeasureOutbox();  // What waits, while nothing is being published.
    if (!Pause(
            messaging::ReconnectBackoff(failures, options_.backoff_initial, options_.backoff_max)))
      return;
  }
}

absl::StatusOr<int> OutboxRelay::SweepPublishedOnce(absl::Time now, int max) {
  const int64_t cutoff = absl::ToUnixMicros(now - options_.published_retention);
  std::vector<std::string> expired;
  // Every message is read: the store keys them by transaction, not by age. At one sweep a
  // minute that is cheap next to the writes that made them.
  absl::Status s = store_.Scan(
      Space::kData, kMessagePrefix, "", [&](const std::string& key, const std::string& value) {
        v1::OutboxMessage m;
        if (m.ParseFromString(value) && m.state() == v1::MESSAGE_STATE_PUBLISHED &&
            m.published_micros() < cutoff) {
          expired.push_back(key);
        }
        return static_cast<int>(expired.size()) < max;
      });
  if (!s.ok()) return s;
  if (expired.empty()) return 0;
  s = store_.SubmitAndWait([&](storage::WorkView& view) {
    for (const std::string& key : expired) view.Delete(Space::kData, key);
    return true;
  });
  if (!s.ok()) return s;
  return static_cast<int>(expired.size());
}

void OutboxRelay::MeasureOutbox() {
  if (metrics_ == nullptr) return;
  int depth = 0;
  std::string oldest_key;
  absl::Status s = store_.Scan(Space::kData, kOutboxPrefix, "",
                               [&](const std::string&, const std::string& value) {
                                 if (depth++ == 0) oldest_key = value;
                                 return true;
                               });
  if (!s.ok()) return;
  absl::Duration age = absl::ZeroDuration();
  v1::OutboxMessage oldest;
  if (auto raw = store_.Get(Space::kData, oldest_key);
      depth > 0 && raw.ok() && raw->has_value() && oldest.ParseFromString(**raw)) {
    age = absl::Now() - absl::FromUnixMicros(oldest.ready_micros());
  }
  metrics_->SetOutbox(depth, age);
}

absl::StatusOr<int> OutboxRelay::PublishRound(messaging::Publisher& publisher) {
  struct Entry {
    std::string index_key;
    std::string message_key;
    v1::OutboxMessage message;
  };
  std::vector<Entry> entries;
  int depth = 0;  // Every entry is counted; the first `window` are published.
  absl::Status s = store_.Scan(Space::kData, kOutboxPrefix, "",
                               [&](const std::string& key, const std::string& value) {
                                 if (++depth <= options_.window)
                                   entries.push_back({key, value, {}});
                                 return true;
                               });
  if (!s.ok()) return s;
  if (entries.empty()) {
    if (metrics_ != nullptr) metrics_->SetOutbox(0, absl::ZeroDuration());
    return 0;
  }
  std::vector<messaging::OutboundMessage> batch;
  for (Entry& e : entries) {
    auto raw = store_.Get(Space::kData, e.message_key);
    if (!raw.ok()) return raw.status();
    if (!raw->has_value() || !e.message.ParseFromString(**raw)) {
      return absl::DataLossError(absl::StrCat("outbox entry ", e.index_key, " points at ",
                                              e.message_key, ", which is missing or unreadable"));
    }
    messaging::OutboundMessage m;
    // Stable across republishing: the consumer's dedup key.
    m.message_id = absl::StrCat(e.message.txn_id(), "/", e.message.branch_id());
    m.key = e.message.txn_id();  // Kafka: one payment's messages on one partition, in order.
    google::protobuf::util::JsonPrintOptions json;
    json.preserve_proto_field_names = true;
    if (auto st = google::protobuf::util::MessageToJsonString(e.message, &m.body, json); !st.ok()) {
      return absl::InternalError(absl::StrCat("cannot encode ", m.message_id, ": ", st.ToString()));
    }
    batch.push_back(std::move(m));
  }
  const absl::Time start = absl::Now();
  if (metrics_ != nullptr) {
    metrics_->SetOutbox(depth, start - absl::FromUnixMicros(entries[0].message.ready_micros()));
  }
  auto confirmed = publisher.PublishConfirmed(batch, start + options_.confirm_timeout);
  if (!confirmed.ok()) {
    if (metrics_ != nullptr) metrics_->Failed(static_cast<int>(batch.size()));
    return confirmed.status();
  }
  const absl::Duration latency = absl::Now() - start;
  if (options_.on_confirmed_ForTest) options_.on_confirmed_ForTest();
  int published = 0;
  s = store_.SubmitAndWait([&](storage::WorkView& view) {
    published = 0;  // A SQL store may run the unit again.
    for (size_t i = 0; i < entries.size(); ++i) {
      if (!(*confirmed)[i]) continue;
      v1::OutboxMessage m = entries[i].message;
      m.set_state(v1::MESSAGE_STATE_PUBLISHED);
      m.set_published_micros(absl::ToUnixMicros(start + latency));
      view.Put(Space::kData, entries[i].message_key, m.SerializeAsString());
      view.Delete(Space::kData, entries[i].index_key);
      ++published;
    }
    return true;
  });
  if (!s.ok()) return s;  // Not marked: published again later, dropped as a duplicate.
  if (metrics_ != nullptr) {
    metrics_->Round(published, static_cast<int>(entries.size()) - published, latency);
    if (published == depth) metrics_->SetOutbox(0, absl::ZeroDuration());
  }
  if (published < static_cast<int>(entries.size())) {
    Log(LogLevel::kWarning, "broker did not confirm some messages (unroutable or refused)",
        {{"unconfirmed", absl::StrCat(entries.size() - published)}});
  }
  return published;
}

}  // namespace settle::participants
