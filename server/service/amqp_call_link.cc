#include "server/service/amqp_call_link.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/json_log.h"
#include "messaging/publisher.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "server/service/api_convert.h"
#include "settle/v1/participant.pb.h"

namespace settle {
namespace {

constexpr absl::Duration kBackoffInitial = absl::Milliseconds(100);
constexpr absl::Duration kBackoffMax = absl::Seconds(5);
constexpr absl::Duration kMaxWait = absl::Milliseconds(200);

absl::Status NotConnected() {
  return absl::UnavailableError("the coordinator is not connected to RabbitMQ");
}

}  // namespace

struct AmqpCallLink::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : calls(prometheus::BuildCounter()
                  .Name("settle_amqp_calls_total")
                  .Help("Participant calls through RabbitMQ, by result: answered, returned (no "
                        "such request queue), timed_out, lost (the connection dropped before a "
                        "reply), refused (not connected).")
                  .Register(registry)),
        seconds(prometheus::BuildHistogram()
                    .Name("settle_amqp_call_seconds")
                    .Help("From publishing a participant call to its reply.")
                    .Register(registry)
                    .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005,
                                                                     0.01, 0.025, 0.05, 0.1, 0.25,
                                                                     0.5, 1, 2.5, 5})),
        connected(prometheus::BuildGauge()
                      .Name("settle_amqp_connected")
                      .Help("1 while the coordinator holds its RabbitMQ connection for "
                            "amqp: participants.")
                      .Register(registry)
                      .Add({})),
        answered(calls.Add({{"result", "answered"}})),
        returned(calls.Add({{"result", "returned"}})),
        timed_out(calls.Add({{"result", "timed_out"}})),
        lost(calls.Add({{"result", "lost"}})),
        refused(calls.Add({{"result", "refused"}})) {}
  prometheus::Family<prometheus::Counter>& calls;
  prometheus::Histogram& seconds;
  prometheus::Gauge& connected;
  prometheus::Counter& answered;
  prometheus::Counter& returned;
  prometheus::Counter& timed_out;
  prometheus::Counter& lost;
  prometheus::Counter& refused;
};

AmqpCallLink::AmqpCallLink(messaging::AmqpOptions broker, prometheus::Registry* registry)
    : broker_(std::move(broker)),
      metrics_(registry != nullptr ? std::make_unique<Metrics>(*registry) : nullptr) {}

AmqpCallLink::~AmqpCallLink() { Stop(); }

void AmqpCallLink::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void AmqpCallLink::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  waker_.Wake();
  if (thread_.joinable()) thread_.join();
}

void AmqpCallLink::Call(const std::string& queue, const std::string& method, std::string request,
                        absl::Time deadline, Done done) {
  v1::ParticipantCall call;
  call.set_method(method);
  call.set_request(std::move(request));
  ToProtoTime(deadline, call.mutable_deadline());
  bool queued = false;
  {
    absl::MutexLock lock(&mu_);
    if (connected_ && !stop_) {
      // Unique per coordinator run; the reply queue is this connection's alone anyway.
      static const uint64_t run = absl::Uniform<uint64_t>(absl::BitGen());
      std::string id = absl::StrCat(absl::Hex(run), "-", ++next_id_);
      unsent_.push_back(id);
      pending_.emplace(std::move(id), Pending{queue, call.SerializeAsString(), deadline,
                                              absl::InfinitePast(), std::move(done)});
      queued = true;
    }
  }
  if (queued) {
    waker_.Wake();
    return;
  }
  if (metrics_ != nullptr) metrics_->refused.Increment();
  done(NotConnected());
}

std::vector<AmqpCallLink::Pending> AmqpCallLink::TakeIf(
    const std::function<bool(const Pending&)>& pick) {
  std::vector<Pending> out;
  absl::MutexLock lock(&mu_);
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (!pick(it->second)) {
      ++it;
      continue;
    }
    out.push_back(std::move(it->second));
    it = pending_.erase(it);
  }
  return out;
}

void AmqpCallLink::Answer(const std::string& correlation_id, absl::StatusOr<std::string> result,
                          bool returned) {
  Pending p;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(correlation_id);
    if (it == pending_.end()) return;  // Late or duplicated: its call has its answer.
    p = std::move(it->second);
    pending_.erase(it);
  }
  if (metrics_ != nullptr) {
    (returned ? metrics_->returned : metrics_->answered).Increment();
    if (result.ok()) metrics_->seconds.Observe(absl::ToDoubleSeconds(absl::Now() - p.sent));
  }
  p.done(std::move(result));
}

absl::Status AmqpCallLink::SendUnsent(messaging::RpcChannel& channel,
                                      const std::string& reply_queue) {
  std::vector<messaging::RpcMessage> batch;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    for (const std::string& id : unsent_) {
      auto it = pending_.find(id);
      if (it == pending_.end() || it->second.deadline <= now) continue;
      it->second.sent = now;
      batch.push_back({it->second.queue, id, reply_queue, std::move(it->second.body),
                       /*request=*/true, it->second.deadline - now});
    }
    unsent_.clear();
  }
  for (const messaging::RpcMessage& m : batch) {
    if (absl::Status s = channel.Publish(m); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void AmqpCallLink::Run() {
  const std::string broker = absl::StrCat(broker_.host, ":", broker_.port);
  int failures = 0;
  for (;;) {
    absl::Status failed;
    std::string reply_queue;
    auto channel = messaging::RpcChannel::Connect(broker_);
    if (!channel.ok()) failed = channel.status();
    if (failed.ok()) {
      auto q = (*channel)->DeclareReplyQueue();
      failed = q.ok() ? (*channel)->Consume(*q, /*prefetch=*/0) : q.status();
      if (q.ok()) reply_queue = *q;
    }
    if (failed.ok()) {
      {
        absl::MutexLock lock(&mu_);
        connected_ = true;
      }
      if (metrics_ != nullptr) metrics_->connected.Set(1);
      Log(LogLevel::kInfo, "reaching amqp: participants through RabbitMQ", {{"broker", broker}});
      failures = 0;
    }
    while (failed.ok()) {
      absl::Time next_deadline = absl::Now() + kMaxWait;
      {
        absl::MutexLock lock(&mu_);
        if (stop_) break;
      }
      failed = SendUnsent(**channel, reply_queue);
      if (!failed.ok()) break;
      const absl::Time now = absl::Now();
      for (Pending& p : TakeIf([&](const Pending& p) { return p.deadline <= now; })) {
        if (metrics_ != nullptr) metrics_->timed_out.Increment();
        p.done(absl::DeadlineExceededError("no reply from the participant by the deadline"));
      }
      {
        absl::MutexLock lock(&mu_);
        for (const auto& [id, p] : pending_) next_deadline = std::min(next_deadline, p.deadline);
      }
      auto event = (*channel)->Wait(next_deadline - absl::Now(), waker_);
      if (!event.ok()) {
        failed = event.status();
        break;
      }
      if (event->kind == messaging::RpcEvent::Kind::kReturned) {
        Answer(event->correlation_id,
               absl::UnavailableError(absl::StrCat(
                   "RabbitMQ has no queue ", event->queue,
                   ": is the participant serving it (settle-participant --amqp_requests)?")),
               /*returned=*/true);
      } else if (event->kind == messaging::RpcEvent::Kind::kDelivery) {
        v1::ParticipantReply reply;
        if (!reply.ParseFromString(event->body)) {
          Answer(event->correlation_id,
                 absl::UnknownError("the participant's reply is not a ParticipantReply"),
                 /*returned=*/false);
        } else if (reply.code() != 0) {
          Answer(event->correlation_id,
                 absl::Status(static_cast<absl::StatusCode>(reply.code()), reply.message()),
                 /*returned=*/false);
        } else {
          Answer(event->correlation_id, std::move(*reply.mutable_response()), /*returned=*/false);
        }
      }
    }
    // Whatever waited for a reply on this connection will not get it: an unknown outcome.
    {
      absl::MutexLock lock(&mu_);
      connected_ = false;
      unsent_.clear();
    }
    if (metrics_ != nullptr) metrics_->connected.Set(0);
    for (Pending& p : TakeIf([](const Pending&) { return true; })) {
      if (metrics_ != nullptr) metrics_->lost.Increment();
      p.done(absl::UnavailableError(
          absl::StrCat("lost RabbitMQ before the participant's reply: ", failed.message())));
    }
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    ++failures;
    if (failures == 1 || failures % 20 == 0) {
      Log(LogLevel::kWarning, "cannot reach RabbitMQ for amqp: participants; retrying",
          {{"broker", broker}, {"attempt", absl::StrCat(failures)}, {"error", failed.ToString()}});
    }
    mu_.AwaitWithTimeout(absl::Condition(&stop_),
                         messaging::ReconnectBackoff(failures, kBackoffInitial, kBackoffMax));
    if (stop_) return;
  }
}

}  // namespace settle
