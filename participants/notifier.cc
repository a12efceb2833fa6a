#include "participants/notifier.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/crypto.h"
#include "common/echo.h"
#include "google/protobuf/util/json_util.h"
#include "participants/reference.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "proto/status_mapping.h"
#include "settle/v1/reference.grpc.pb.h"

namespace settle::participants {
namespace {

using storage::Space;

constexpr char kDeliveryPrefix[] = "dlv/";
constexpr char kDuePrefix[] = "due/";
constexpr size_t kMaxId = 256;

std::string DeliveryKey(const std::string& id) { return kDeliveryPrefix + id; }
std::string DueKey(int64_t micros, const std::string& id) {
  return absl::StrFormat("%s%020d/%s", kDuePrefix, std::max<int64_t>(micros, 0), id);
}

std::string UrlFor(const NotifierOptions& o, const std::string& recipient) {
  auto it = o.webhooks.find(recipient);
  if (it == o.webhooks.end()) it = o.webhooks.find("*");
  return it == o.webhooks.end() ? "" : it->second;
}

absl::Status CheckId(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("id is required");
  if (id.size() > kMaxId) {
    return absl::InvalidArgumentError(absl::StrCat("id ", Echo(id), " is longer than ", kMaxId));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Delivery> ReadDelivery(storage::WorkView& view, const std::string& id) {
  auto raw = view.Get(Space::kData, DeliveryKey(id));
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return absl::NotFoundError(absl::StrCat("no delivery ", Echo(id)));
  v1::Delivery d;
  if (!d.ParseFromString(**raw)) {
    return absl::DataLossError(absl::StrCat("delivery ", Echo(id), " is unreadable"));
  }
  return d;
}

void WriteDelivery(storage::WorkView& view, const v1::Delivery& d) {
  view.Put(Space::kData, DeliveryKey(d.id()), d.SerializeAsString());
  if (d.state() == v1::DELIVERY_STATE_PENDING) {
    view.Put(Space::kData, DueKey(d.next_attempt_micros(), d.id()), d.id());
  }
}

}  // namespace

absl::StatusOr<std::vector<absl::Duration>> ParseRetrySchedule(const std::string& text) {
  std::vector<absl::Duration> schedule;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    absl::Duration d;
    if (!absl::ParseDuration(absl::StripAsciiWhitespace(part), &d) || d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("retry schedule: ", Echo(part), " is not a positive duration"));
    }
    if (!schedule.empty() && d < schedule.back()) {
      return absl::InvalidArgumentError(
          absl::StrCat("retry schedule: ", Echo(part), " is shorter than the wait before it"));
    }
    schedule.push_back(d);
  }
  return schedule;
}

absl::StatusOr<std::map<std::string, std::string>> ParseWebhooks(const std::string& text) {
  std::map<std::string, std::string> webhooks;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (fields.size() != 2 ||
        !(absl::StartsWith(fields[1], "http://") || absl::StartsWith(fields[1], "https://"))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "webhooks line ", line_no, ": ", Echo(line), " is not RECIPIENT http(s)://URL"));
    }
    webhooks[fields[0]] = fields[1];
  }
  return webhooks;
}

std::string WebhookSignature(const std::string& key, const std::string& timestamp,
                             const std::string& body) {
  return crypto::HmacSha256Hex(key, absl::StrCat(timestamp, ".", body));
}

// Records each consumed result as a delivery, due now.
class Notifier::Handler final : public sdk::MessageHandler {
 public:
  Handler(const NotifierOptions& options, Notifier::Metrics* metrics)
      : options_(options), metrics_(metrics) {}
  absl::Status Handle(const messaging::AmqpDelivery& m, storage::WorkView& view) override;

 private:
  const NotifierOptions& options_;
  Notifier::Metrics* metrics_;
};

struct Notifier::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : attempts(prometheus::BuildCounter()
                     .Name("settle_notifier_attempts_total")
                     .Help("Webhook POSTs, by result: delivered (2xx) or failed (any other "
                           "answer, none, or a timeout; tried again on the schedule).")
                     .Register(r)),
        delivered(attempts.Add({{"result", "delivered"}})),
        failed(attempts.Add({{"result", "failed"}})),
        dead(prometheus::BuildCounter()
                 .Name("settle_notifier_dead_letters_total")
                 .Help("Deliveries that failed every attempt of the schedule (or had no URL).")
                 .Register(r)
                 .Add({})),
        received(prometheus::BuildCounter()
                     .Name("settle_notifier_results_received_total")
                     .Help("Payment results consumed from the broker (duplicates excluded).")
                     .Register(r)
                     .Add({})),
        duplicates(prometheus::BuildCounter()
                       .Name("settle_notifier_duplicates_dropped_total")
                       .Help("Payment results consumed again (republished or redelivered) and "
                             "dropped: their delivery was already recorded.")
                       .Register(r)
                       .Add({})),
        seconds(prometheus::BuildHistogram()
                    .Name("settle_notifier_attempt_seconds")
                    .Help("Duration of one webhook POST, whatever its result.")
                    .Register(r)
                    .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1,
                                                                     0.25, 0.5, 1, 2.5, 5, 10})) {}
  prometheus::Family<prometheus::Counter>& attempts;
  prometheus::Counter& delivered;
  prometheus::Counter& failed;
  prometheus::Counter& dead;
  prometheus::Counter& received;
  prometheus::Counter& duplicates;
  prometheus::Histogram& seconds;
};

absl::Status Notifier::Handler::Handle(const messaging::AmqpDelivery& m, storage::WorkView& view) {
  v1::OutboxMessage result;
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(m.body, &result, parse).ok()) {
    // Back to the queue; the broker dead-letters it past its delivery limit.
    return absl::InvalidArgumentError(absl::StrCat("message ", Echo(m.message_id),
                                                   " is not a payment result"));
  }
  if (absl::Status s = CheckId(m.message_id); !s.ok()) return s;
  v1::WebhookEvent event;
  event.set_id(m.message_id);
  event.set_type(result.topic());
  event.set_recipient(result.recipient());
  event.set_txn_id(result.txn_id());
  event.set_created_micros(result.ready_micros());
  event.set_data(result.body());
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  v1::Delivery d;
  if (!google::protobuf::util::MessageToJsonString(event, d.mutable_body(), print).ok()) {
    return absl::InternalError(absl::StrCat("cannot encode ", Echo(m.message_id)));
  }
  const int64_t now = absl::ToUnixMicros(absl::Now());
  d.set_id(m.message_id);
  d.set_recipient(result.recipient());
  d.set_url(UrlFor(options_, result.recipient()));
  d.set_received_micros(now);
  if (d.url().empty()) {
    d.set_state(v1::DELIVERY_STATE_DEAD);
    auto* a = d.add_attempts();
    a->set_at_micros(now);
    a->set_error(absl::StrCat("no webhook is configured for ", Echo(result.recipient())));
    if (metrics_ != nullptr) metrics_->dead.Increment();
  } else {
    d.set_state(v1::DELIVERY_STATE_PENDING);
    d.set_next_attempt_micros(now);
  }
  WriteDelivery(view, d);
  if (metrics_ != nullptr) metrics_->received.Increment();
  return absl::OkStatus();
}

Notifier::Notifier(storage::BranchStore& store, messaging::WebhookSender& sender,
                   NotifierOptions options, prometheus::Registry* metrics)
    : store_(store),
      sender_(sender),
      options_(std::move(options)),
      metrics_(metrics != nullptr ? std::make_unique<Metrics>(*metrics) : nullptr) {
  handler_ = std::make_unique<Handler>(options_, metrics_.get());
}

Notifier::~Notifier() = default;

sdk::MessageHandler& Notifier::handler() { return *handler_; }

void Notifier::CountDuplicates(int n) {
  if (metrics_ != nullptr) metrics_->duplicates.Increment(n);
}

absl::StatusOr<int> Notifier::DeliverDueOnce(absl::Time now) {
  const int64_t now_micros = absl::ToUnixMicros(now);
  std::vector<std::pair<std::string, std::string>> due;  // (due key, delivery id)
  absl::Status s = store_.Scan(
      Space::kData, kDuePrefix, "", [&](const std::string& key, const std::string& id) {
        int64_t at = 0;
        if (!absl::SimpleAtoi(key.substr(sizeof(kDuePrefix) - 1, 20), &at) || at > now_micros) {
          return false;
        }
        due.emplace_back(key, id);
        return static_cast<int>(due.size()) < options_.batch;
      });
  if (!s.ok()) return s;
  if (due.empty()) return 0;
  const std::string timestamp = absl::StrCat(absl::ToUnixSeconds(now));
  std::vector<messaging::WebhookRequest> requests;
  std::vector<std::string> posted, stale;
  for (const auto& [due_key, id] : due) {
    auto raw = store_.Get(Space::kData, DeliveryKey(id));
    if (!raw.ok()) return raw.status();
    v1::Delivery d;
    if (!raw->has_value() || !d.ParseFromString(**raw) ||
        d.state() != v1::DELIVERY_STATE_PENDING) {
      stale.push_back(due_key);  // Points at nothing due: dropped, never posted.
      continue;
    }
    requests.push_back(
        {d.url(),
         {{"Settle-Event-Id", d.id()},
          {"Settle-Timestamp", timestamp},
          {"Settle-Signature",
           absl::StrCat("v1=", WebhookSignature(options_.signing_key, timestamp, d.body()))}},
         d.body()});
    posted.push_back(id);
  }
  const std::vector<messaging::WebhookResult> results = sender_.PostAll(requests);
  if (absl::Status r = RecordAttempts(posted, results, stale, now); !r.ok()) return r;
  return static_cast<int>(posted.size());
}

absl::Status Notifier::RecordAttempts(const std::vector<std::string>& ids,
                                      const std::vector<messaging::WebhookResult>& results,
                                      const std::vector<std::string>& stale_due_keys,
                                      absl::Time now) {
  absl::BitGen gen;
  int delivered = 0, failed = 0, dead = 0;
  absl::Status s = store_.SubmitAndWait([&](storage::WorkView& view) {
    delivered = failed = dead = 0;
    for (const std::string& key : stale_due_keys) view.Delete(Space::kData, key);
    for (size_t i = 0; i < ids.size(); ++i) {
      auto d = ReadDelivery(view, ids[i]);
      // Resent or gone meanwhile: its own record says what is due.
      if (!d.ok() || d->state() != v1::DELIVERY_STATE_PENDING) continue;
      const messaging::WebhookResult& r = results[i];
      view.Delete(Space::kData, DueKey(d->next_attempt_micros(), d->id()));
      auto* a = d->add_attempts();
      a->set_at_micros(absl::ToUnixMicros(now));
      a->set_http_status(r.http_status);
      a->set_error(r.error.substr(0, 200));
      a->set_duration_micros(absl::ToInt64Microseconds(r.took));
      d->set_round_attempts(d->round_attempts() + 1);
      const size_t waits = options_.retry_schedule.size();
      d->clear_next_attempt_micros();
      if (r.delivered()) {
        d->set_state(v1::DELIVERY_STATE_DELIVERED);
        ++delivered;
      } else if (static_cast<size_t>(d->round_attempts()) > waits) {
        d->set_state(v1::DELIVERY_STATE_DEAD);
        ++failed, ++dead;
      } else {
        const absl::Duration wait = options_.retry_schedule[d->round_attempts() - 1];
        const double spread = absl::Uniform(gen, 1.0 - options_.jitter, 1.0 + options_.jitter);
        d->set_next_attempt_micros(absl::ToUnixMicros(now + wait * spread));
        ++failed;
      }
      WriteDelivery(view, *d);
    }
    return true;
  });
  if (!s.ok() || metrics_ == nullptr) return s;
  metrics_->delivered.Increment(delivered);
  metrics_->failed.Increment(failed);
  metrics_->dead.Increment(dead);
  for (const auto& r : results) metrics_->seconds.Observe(absl::ToDoubleSeconds(r.took));
  return s;
}

absl::StatusOr<v1::Delivery> Notifier::Resend(const std::string& id, absl::Time now) {
  if (absl::Status s = CheckId(id); !s.ok()) return s;
  absl::StatusOr<v1::Delivery> result;
  absl::Status s = store_.SubmitAndWait([&](storage::WorkView& view) {
    result = ReadDelivery(view, id);
    if (!result.ok()) return false;
    if (result->state() == v1::DELIVERY_STATE_PENDING) {
      result = absl::FailedPreconditionError(
          absl::StrCat("delivery ", Echo(id), " is already pending; it is due at its next attempt"));
      return false;
    }
    // The webhooks may have been fixed since: resolve the URL again.
    result->set_url(UrlFor(options_, result->recipient()));
    if (result->url().empty()) {
      result = absl::FailedPreconditionError(
          absl::StrCat("no webhook is configured for ", Echo(result->recipient())));
      return false;
    }
    result->set_state(v1::DELIVERY_STATE_PENDING);
    result->set_round_attempts(0);
    result->set_next_attempt_micros(absl::ToUnixMicros(now));
    WriteDelivery(view, *result);
    return true;
  });
  if (!s.ok()) return s;
  return result;
}

absl::StatusOr<v1::ListDeliveriesResponse> Notifier::List(
    const v1::ListDeliveriesRequest& request) const {
  v1::ListDeliveriesResponse response;
  auto next = ScanPage(store_, kDeliveryPrefix, request.page_token(), request.page_size(),
                       [&](const std::string& value) {
                         v1::Delivery d;
                         if (!d.ParseFromString(value)) return;
                         if (request.state() == v1::DELIVERY_STATE_UNSPECIFIED ||
                             d.state() == request.state()) {
                           *response.add_deliveries() = std::move(d);
                         }
                       });
  if (!next.ok()) return next.status();
  response.set_next_page_token(*next);
  return response;
}

namespace {

class NotifierAdmin final : public v1::NotifierAdmin::CallbackService {
 public:
  explicit NotifierAdmin(Notifier& notifier) : notifier_(notifier) {}

  grpc::ServerUnaryReactor* ListDeliveries(grpc::CallbackServerContext* context,
                                           const v1::ListDeliveriesRequest* request,
                                           v1::ListDeliveriesResponse* response) override {
    auto* reactor = context->DefaultReactor();
    auto list = notifier_.List(*request);
    if (list.ok()) *response = std::move(*list);
    reactor->Finish(ToGrpcStatus(list.status()));
    return reactor;
  }

  grpc::ServerUnaryReactor* ResendDelivery(grpc::CallbackServerContext* context,
                                           const v1::ResendDeliveryRequest* request,
                                           v1::Delivery* response) override {
    auto* reactor = context->DefaultReactor();
    auto d = notifier_.Resend(request->id(), absl::Now());
    if (d.ok()) *response = std::move(*d);
    reactor->Finish(ToGrpcStatus(d.status()));
    return reactor;
  }

 private:
  Notifier& notifier_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeNotifierAdmin(Notifier& notifier) {
  return std::make_unique<NotifierAdmin>(notifier);
}

}  // namespace settle::participants
