#include "participants/outbox_relay.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/json_log.h"
#include "google/protobuf/util/json_util.h"
#include "settle/v1/reference.pb.h"

namespace settle::participants {
namespace {

using storage::Space;

constexpr char kOutboxPrefix[] = "outbox/";

absl::Duration Backoff(const OutboxRelayOptions& o, int failures, absl::BitGen& gen) {
  absl::Duration step = o.backoff_initial;
  for (int i = 1; i < failures && step < o.backoff_max; ++i) step *= 2;
  step = std::min(step, o.backoff_max);
  return absl::Microseconds(absl::Uniform(gen, absl::ToInt64Microseconds(step) / 2,
                                          absl::ToInt64Microseconds(step) + 1));
}

}  // namespace

OutboxRelay::OutboxRelay(storage::BranchStore& store, messaging::AmqpOptions amqp,
                         OutboxRelayOptions options)
    : store_(store), amqp_(std::move(amqp)), options_(options) {}

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
  absl::BitGen gen;
  std::unique_ptr<messaging::AmqpChannel> channel;
  int failures = 0;
  const std::string broker = absl::StrCat(amqp_.host, ":", amqp_.port);
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    absl::Status failed;
    if (channel == nullptr) {
      auto c = messaging::AmqpChannel::Connect(amqp_);
      if (c.ok()) {
        channel = std::move(*c);
        Log(LogLevel::kInfo, "outbox relay connected", {{"broker", broker}});
        failures = 0;
      } else {
        failed = c.status();
      }
    }
    if (failed.ok()) {
      auto published = PublishRound(*channel);
      if (published.ok()) {
        if (*published == 0 && !Pause(options_.poll_interval)) return;
        continue;
      }
      failed = published.status();
      channel.reset();
    }
    // The broker is away or refused: what was not confirmed stays READY and goes again after a
    // capped, jittered pause, so a broker that comes back is not stormed.
    ++failures;
    if (failures == 1 || failures % 20 == 0) {
      Log(LogLevel::kWarning, "outbox relay cannot publish; retrying",
          {{"broker", broker}, {"attempt", absl::StrCat(failures)}, {"error", failed.ToString()}});
    }
    if (!Pause(Backoff(options_, failures, gen))) return;
  }
}

absl::StatusOr<int> OutboxRelay::PublishRound(messaging::AmqpChannel& channel) {
  struct Entry {
    std::string index_key;
    std::string message_key;
    v1::OutboxMessage message;
  };
  std::vector<Entry> entries;
  absl::Status s = store_.Scan(Space::kData, kOutboxPrefix, "",
                               [&](const std::string& key, const std::string& value) {
                                 entries.push_back({key, value, {}});
                                 return static_cast<int>(entries.size()) < options_.window;
                               });
  if (!s.ok()) return s;
  if (entries.empty()) return 0;
  std::vector<messaging::AmqpMessage> batch;
  for (Entry& e : entries) {
    auto raw = store_.Get(Space::kData, e.message_key);
    if (!raw.ok()) return raw.status();
    if (!raw->has_value() || !e.message.ParseFromString(**raw)) {
      return absl::DataLossError(absl::StrCat("outbox entry ", e.index_key, " points at ",
                                              e.message_key, ", which is missing or unreadable"));
    }
    messaging::AmqpMessage m;
    // Stable across republishing: the consumer's dedup key.
    m.message_id = absl::StrCat(e.message.txn_id(), "/", e.message.branch_id());
    google::protobuf::util::JsonPrintOptions json;
    json.preserve_proto_field_names = true;
    if (auto st = google::protobuf::util::MessageToJsonString(e.message, &m.body, json); !st.ok()) {
      return absl::InternalError(absl::StrCat("cannot encode ", m.message_id, ": ", st.ToString()));
    }
    batch.push_back(std::move(m));
  }
  auto confirmed = channel.PublishConfirmed(batch, absl::Now() + options_.confirm_timeout);
  if (!confirmed.ok()) return confirmed.status();
  int published = 0;
  s = store_.SubmitAndWait([&](storage::WorkView& view) {
    for (size_t i = 0; i < entries.size(); ++i) {
      if (!(*confirmed)[i]) continue;
      v1::OutboxMessage m = entries[i].message;
      m.set_state(v1::MESSAGE_STATE_PUBLISHED);
      view.Put(Space::kData, entries[i].message_key, m.SerializeAsString());
      view.Delete(Space::kData, entries[i].index_key);
      ++published;
    }
    return true;
  });
  if (!s.ok()) return s;  // Not marked: published again later, dropped as a duplicate.
  if (published < static_cast<int>(entries.size())) {
    Log(LogLevel::kWarning, "broker did not confirm some messages (unroutable or refused)",
        {{"unconfirmed", absl::StrCat(entries.size() - published)}});
  }
  return published;
}

}  // namespace settle::participants
