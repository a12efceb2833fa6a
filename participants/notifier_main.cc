// settle-notifier: consumes payment results from RabbitMQ (each acts once, through the SDK's
// idempotent consumer) and delivers them to merchants' webhooks, signed, on a retry schedule,
// dead-lettering what never gets through. Its admin API lists deliveries and resends one.

#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/credentials.h"
#include "common/crypto.h"
#include "common/env_flags.h"
#include "common/json_log.h"
#include "common/serving.h"
#include "common/signals.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server_builder.h"
#include "messaging/amqp_flags.h"
#include "participants/notifier.h"
#include "server/http/http_gateway.h"
#include "storage/rocks_branch_store.h"
#include "storage/store_flags.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "admin gRPC listen address (port 0 picks one)");
ABSL_FLAG(std::string, http_listen, "",
          "host:port of the HTTP/JSON port with the console's deliveries page; off when empty. "
          "Anything but loopback needs TLS and --auth_roles");
ABSL_FLAG(int32_t, max_message_bytes, 4 << 20, "largest HTTP request body accepted");
ABSL_FLAG(std::string, data_dir, "settle-data/notifier", "folder of the notifier's RocksDB store");
ABSL_FLAG(std::string, port_file, "",
          "if set, write the bound gRPC, metrics and HTTP ports here (one per line; 0: off) once "
          "serving");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:0",
          "Prometheus /metrics listen address; empty disables it");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(std::string, webhooks_file, "",
          "file of 'RECIPIENT URL' lines ('*' for every other recipient)");
ABSL_FLAG(std::string, webhook_url, "",
          "the webhook of every recipient the webhooks file does not list");
ABSL_FLAG(std::string, webhook_key_file, "",
          "file holding the HMAC-SHA256 key that signs every webhook (required)");
ABSL_FLAG(std::string, retry_schedule, "30s,2m,10m,30m,1h,2h,4h,8h",
          "waits between failed attempts; one attempt more than waits, then dead-lettered");
ABSL_FLAG(absl::Duration, webhook_timeout, absl::Seconds(10),
          "one POST's limit, connecting included; a merchant slower than this has failed");
ABSL_FLAG(absl::Duration, poll_interval, absl::Milliseconds(100),
          "pause while the queue is empty and no delivery is due");
ABSL_FLAG(absl::Duration, dedup_retention, absl::Hours(24 * 7),
          "how long a consumed result's id is remembered to drop a redelivered copy");

namespace {

using settle::Log;
using settle::LogLevel;

// Waits until stopped; false once stopping.
class StopFlag {
 public:
  void Stop() {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  bool Pause(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stop_), d);
    return !stop_;
  }

 private:
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

// Consumes the results queue, reconnecting with a capped, jittered backoff while the broker
// is away; unacked results come again and are deduplicated.
void Consume(settle::storage::BranchStore& store, const settle::messaging::AmqpOptions& amqp,
             settle::participants::Notifier& notifier, StopFlag& stop) {
  settle::sdk::ConsumerOptions options;
  options.queue = amqp.queue;
  options.dedup_retention = absl::GetFlag(FLAGS_dedup_retention);
  const std::string broker = absl::StrCat(amqp.host, ":", amqp.port);
  absl::Time next_sweep = absl::Now();
  int failures = 0;
  do {
    auto channel = settle::messaging::AmqpChannel::Connect(amqp);
    absl::Status failed = channel.status();
    if (channel.ok()) {
      Log(LogLevel::kInfo, "notifier connected", {{"broker", broker}});
      failures = 0;
      settle::sdk::IdempotentConsumer consumer(store, **channel, notifier.handler(), options);
      for (;;) {
        if (absl::Now() >= next_sweep) {
          (void)consumer.SweepDedupOnce(absl::Now(), 1000);
          next_sweep = absl::Now() + absl::Minutes(1);
        }
        auto stats = consumer.ConsumeOnce(100);
        if (!stats.ok()) {
          failed = stats.status();
          break;
        }
        notifier.CountDuplicates(stats->duplicates);
        const bool idle = stats->handled + stats->duplicates + stats->failed == 0;
        if (!stop.Pause(idle ? absl::GetFlag(FLAGS_poll_interval) : absl::ZeroDuration())) {
          return;
        }
      }
    }
    ++failures;
    if (failures == 1 || failures % 20 == 0) {
      Log(LogLevel::kWarning, "notifier cannot consume; retrying",
          {{"broker", broker}, {"attempt", absl::StrCat(failures)}, {"error", failed.ToString()}});
    }
  } while (stop.Pause(settle::messaging::ReconnectBackoff(failures, absl::Milliseconds(100),
                                                          absl::Seconds(10))));
}

// Posts what is due, round after round while there is work, pausing only when there is none.
void Deliver(settle::participants::Notifier& notifier, StopFlag& stop) {
  for (;;) {
    auto attempted = notifier.DeliverDueOnce(absl::Now());
    if (!attempted.ok()) {
      Log(LogLevel::kWarning, "cannot record deliveries; retrying",
          {{"error", attempted.status().ToString()}});
    }
    const bool busy = attempted.ok() && *attempted > 0;
    if (!stop.Pause(busy ? absl::ZeroDuration() : absl::GetFlag(FLAGS_poll_interval))) return;
  }
}

// The options the flags give, or exits with status 2 naming the flag.
settle::participants::NotifierOptions OptionsFromFlags() {
  auto fail = [](const std::string& why) {
    Log(LogLevel::kError, "bad settings", {{"error", why}});
    std::exit(2);
  };
  settle::participants::NotifierOptions options;
  auto schedule = settle::participants::ParseRetrySchedule(absl::GetFlag(FLAGS_retry_schedule));
  if (!schedule.ok()) fail(absl::StrCat("--retry_schedule: ", schedule.status().message()));
  options.retry_schedule = *schedule;
  auto key = settle::crypto::ReadSecretFile(absl::GetFlag(FLAGS_webhook_key_file));
  if (!key.ok()) fail(absl::StrCat("--webhook_key_file: ", key.status().message()));
  options.signing_key = *key;
  if (const std::string file = absl::GetFlag(FLAGS_webhooks_file); !file.empty()) {
    auto text = settle::crypto::ReadSecretFile(file);
    auto webhooks = text.ok() ? settle::participants::ParseWebhooks(*text) : text.status();
    if (!webhooks.ok()) fail(absl::StrCat("--webhooks_file: ", webhooks.status().message()));
    options.webhooks = *webhooks;
  }
  if (const std::string url = absl::GetFlag(FLAGS_webhook_url); !url.empty()) {
    auto webhooks = settle::participants::ParseWebhooks("* " + url);
    if (!webhooks.ok()) fail(absl::StrCat("--webhook_url: ", webhooks.status().message()));
    options.webhooks.emplace("*", url);
  }
  if (options.webhooks.empty()) fail("give --webhooks_file or --webhook_url");
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  settle::BlockTerminationSignals();
  settle::ParseFlagsWithEnv(argc, argv,
                            "settle-notifier: delivers payment results from RabbitMQ to "
                            "merchants' webhooks. Every flag can be set as SETTLE_<FLAG>.");
  settle::RouteProtobufLogs();
  if (!settle::SetLogLevel(absl::GetFlag(FLAGS_log_level))) {
    std::fprintf(stderr, "--log_level must be debug, info, warning or error\n");
    return 2;
  }
  const settle::participants::NotifierOptions options = OptionsFromFlags();
  // --tls_*: TLS (mutual as asked) for its admin API.
  const auto tls = settle::TlsOptionsFromFlags();
  if (!tls.ok()) {
    Log(LogLevel::kError, "bad TLS settings", {{"error", tls.status().ToString()}});
    return 2;
  }
  auto amqp = settle::messaging::AmqpOptionsFromFlags();
  if (!settle::messaging::AmqpConfigured() || !amqp.ok()) {
    Log(LogLevel::kError, "bad RabbitMQ settings",
        {{"error", amqp.ok() ? "--amqp_host is required" : amqp.status().ToString()}});
    return 2;
  }
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  auto store =
      settle::storage::OpenRocksBranchStore(data_dir, settle::storage::StoreOptionsFromFlags());
  if (!store.ok()) {
    Log(LogLevel::kError, "cannot open the notifier store; refusing to start",
        {{"error", store.status().ToString()}});
    return store.status().code() == absl::StatusCode::kDataLoss ? 3 : 1;
  }
  auto prom = std::make_shared<prometheus::Registry>();
  const settle::MetricsEndpoint metrics =
      settle::StartMetrics(absl::GetFlag(FLAGS_metrics_listen), prom);
  settle::messaging::CurlWebhookSender sender(absl::GetFlag(FLAGS_webhook_timeout));
  settle::participants::Notifier notifier(**store, sender, options, prom.get());
  std::unique_ptr<grpc::Service> admin = settle::participants::MakeNotifierAdmin(notifier);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), settle::ServerCredentials(*tls), &port);
  builder.RegisterService(admin.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    Log(LogLevel::kError, "cannot listen", {{"listen", absl::GetFlag(FLAGS_listen)}});
    return 1;
  }
  // The HTTP/JSON port and the console's deliveries page: this server's methods, in process.
  std::unique_ptr<settle::http::HttpGateway> http;
  if (const std::string listen = absl::GetFlag(FLAGS_http_listen); !listen.empty()) {
    settle::http::HttpGatewayOptions http_options;
    http_options.listen = listen;
    http_options.tls = *tls;
    http_options.max_body_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_message_bytes));
    http_options.services = {"settle.v1.NotifierAdmin"};
    auto started = settle::http::HttpGateway::Start(std::move(http_options), *server);
    if (!started.ok()) {
      Log(LogLevel::kError, "cannot start the HTTP port", {{"error", started.status().ToString()}});
      return 1;
    }
    http = *std::move(started);
  }
  const int http_port = http != nullptr ? http->port() : 0;
  StopFlag stop;
  std::thread consumer([&] { Consume(**store, *amqp, notifier, stop); });
  std::thread deliverer([&] { Deliver(notifier, stop); });
  settle::WritePortFile(absl::GetFlag(FLAGS_port_file), {port, metrics.port, http_port});
  Log(LogLevel::kInfo, "serving",
      {{"grpc_port", absl::StrCat(port)},
       {"http_port", absl::StrCat(http_port)},
       {"metrics_port", absl::StrCat(metrics.port)},
       {"data_dir", data_dir},
       {"broker", absl::StrCat(amqp->host, ":", amqp->port)}});

  const int sig = settle::WaitForTerminationSignal();
  Log(LogLevel::kInfo, "shutting down", {{"signal", absl::StrCat(sig)}});
  stop.Stop();
  consumer.join();
  deliverer.join();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (http != nullptr)
    http->Stop();  // After the server: its shutdown ends the calls HTTP waits on.
  return 0;
}
