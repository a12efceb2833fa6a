#include "client/amqp_participant_server.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/json_log.h"
#include "messaging/amqp_rpc.h"
#include "messaging/publisher.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "proto/time_convert.h"
#include "settle/v1/participant.pb.h"

namespace settle::sdk {

// Answers ready to be published and acked, filled on whatever thread a call completes.
struct AmqpParticipantServer::Completions {
  struct Answer {
    uint64_t connection = 0;  // A delivery tag means something only on its own connection.
    uint64_t delivery_tag = 0;
    std::string reply_to;
    std::string correlation_id;
    bool answered = false;  // False: ack only.
    std::string reply;      // A serialized ParticipantReply (empty for an OK Commit).
  };
  absl::Mutex mu;
  std::vector<Answer> ready ABSL_GUARDED_BY(mu);
  messaging::RpcWaker waker;

  void Add(Answer a) {
    {
      absl::MutexLock lock(&mu);
      ready.push_back(std::move(a));
    }
    waker.Wake();
  }
  std::vector<Answer> Take() {
    absl::MutexLock lock(&mu);
    return std::exchange(ready, {});
  }
};

struct AmqpParticipantServer::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : requests(prometheus::BuildCounter()
                     .Name("settle_participant_amqp_requests_total")
                     .Help("Participant calls read from the AMQP request queue, by result: "
                           "served (answered), expired (read after their deadline, dropped), "
                           "malformed (not a ParticipantCall).")
                     .Register(registry)),
        served(requests.Add({{"result", "served"}})),
        expired(requests.Add({{"result", "expired"}})),
        malformed(requests.Add({{"result", "malformed"}})),
        connected(prometheus::BuildGauge()
                      .Name("settle_participant_amqp_connected")
                      .Help("1 while the participant consumes its AMQP request queue.")
                      .Register(registry)
                      .Add({})) {}
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Counter& served;
  prometheus::Counter& expired;
  prometheus::Counter& malformed;
  prometheus::Gauge& connected;
};

AmqpParticipantServer::AmqpParticipantServer(AmqpServeOptions options, ParticipantServer& server,
                                             prometheus::Registry* registry)
    : options_(std::move(options)),
      server_(server),
      metrics_(registry != nullptr ? std::make_unique<Metrics>(*registry) : nullptr),
      completions_(std::make_shared<Completions>()) {}

AmqpParticipantServer::~AmqpParticipantServer() { Stop(); }

void AmqpParticipantServer::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void AmqpParticipantServer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  completions_->waker.Wake();
  if (thread_.joinable()) thread_.join();
}

bool AmqpParticipantServer::Stopping() {
  absl::MutexLock lock(&mu_);
  return stop_;
}

void AmqpParticipantServer::Run() {
  const std::string broker = absl::StrCat(options_.broker.host, ":", options_.broker.port);
  uint64_t connection = 0;
  int failures = 0;
  while (!Stopping()) {
    absl::Status failed;
    auto channel = messaging::RpcChannel::Connect(options_.broker);
    if (channel.ok()) failed = (*channel)->DeclareDurableQueue(options_.queue);
    if (channel.ok() && failed.ok())
      failed = (*channel)->Consume(options_.queue, options_.prefetch);
    if (!channel.ok()) failed = channel.status();
    if (failed.ok()) {
      ++connection;
      failures = 0;
      if (metrics_ != nullptr) metrics_->connected.Set(1);
      Log(LogLevel::kInfo, "serving participant calls from RabbitMQ",
          {{"broker", broker}, {"queue", options_.queue}});
      messaging::RpcChannel& ch = **channel;
      while (failed.ok() && !Stopping()) {
        for (Completions::Answer& a : completions_->Take()) {
          if (a.connection != connection) continue;  // Its call is delivered again.
          if (a.answered && !a.reply_to.empty()) {
            failed = ch.Publish({a.reply_to, a.correlation_id, "", std::move(a.reply)});
          }
          // Acked only once answered: a call whose answer was lost comes again.
          if (failed.ok()) failed = ch.Ack(a.delivery_tag);
          if (!failed.ok()) break;
        }
        if (!failed.ok()) break;
        auto event = ch.Wait(absl::Milliseconds(200), completions_->waker);
        if (!event.ok()) {
          failed = event.status();
          break;
        }
        if (event->kind != messaging::RpcEvent::Kind::kDelivery) continue;
        Completions::Answer answer{
            connection, event->delivery_tag, event->reply_to, event->correlation_id, false, ""};
        v1::ParticipantCall call;
        absl::StatusOr<absl::Time> deadline = absl::InfiniteFuture();
        const bool parsed = call.ParseFromString(event->body);
        if (parsed && call.has_deadline()) deadline = FromProtoTime(call.deadline(), "deadline");
        if (!parsed || !deadline.ok()) {
          if (metrics_ != nullptr) metrics_->malformed.Increment();
          v1::ParticipantReply reply;
          reply.set_code(static_cast<int>(absl::StatusCode::kInvalidArgument));
          reply.set_message(parsed ? std::string(deadline.status().message())
                                   : "the message is not a settle.v1.ParticipantCall");
          answer.answered = true;
          answer.reply = reply.SerializeAsString();
          completions_->Add(std::move(answer));
          continue;
        }
        if (absl::Now() > *deadline) {
          if (metrics_ != nullptr) metrics_->expired.Increment();
          completions_->Add(std::move(answer));  // Acked, unanswered.
          continue;
        }
        if (metrics_ != nullptr) metrics_->served.Increment();
        server_.ServeCall(call.method(), call.request(),
                          [completions = completions_, answer = std::move(answer)](
                              absl::Status s, std::string response) mutable {
                            v1::ParticipantReply reply;
                            reply.set_code(static_cast<int>(s.code()));
                            reply.set_message(std::string(s.message()));
                            reply.set_response(std::move(response));
                            answer.answered = true;
                            answer.reply = reply.SerializeAsString();
                            completions->Add(std::move(answer));
                          });
      }
    }
    if (metrics_ != nullptr) metrics_->connected.Set(0);
    if (Stopping()) return;
    ++failures;
    if (failures == 1 || failures % 20 == 0) {
      Log(LogLevel::kWarning, "cannot serve participant calls from RabbitMQ; retrying",
          {{"broker", broker},
           {"queue", options_.queue},
           {"attempt", absl::StrCat(failures)},
           {"error", failed.ToString()}});
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(
        absl::Condition(&stop_),
        messaging::ReconnectBackoff(failures, options_.backoff_initial, options_.backoff_max));
  }
}

}  // namespace settle::sdk
