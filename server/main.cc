// settle-coordinator: the transaction coordinator process.

#include <algorithm>
#include <atomic>
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/credentials.h"
#include "common/env_flags.h"
#include "common/json_log.h"
#include "common/serving.h"
#include "common/shard_map.h"
#include "common/signals.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server_builder.h"
#include "messaging/amqp_flags.h"
#include "prometheus/registry.h"
#include "server/engine/coordinator.h"
#include "server/http/http_gateway.h"
#include "server/service/coordinator_service.h"
#include "server/service/decision_service.h"
#include "server/service/participant_channels.h"
#include "server/service/previous_owners.h"
#include "server/service/registry_service.h"
#include "storage/record_cipher.h"
#include "storage/store_flags.h"
#include "storage/txn_id.h"
#include "storage/txn_log.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070",
          "gRPC listen address (host:port; port 0 picks one)");
ABSL_FLAG(
    std::string, http_listen, "",
    "host:port of the HTTP/JSON port (README, \"The HTTP/JSON port\"); off when empty. Anything "
    "but loopback needs TLS and --auth_roles");
ABSL_FLAG(std::string, data_dir, "settle-data/coordinator", "folder of the decision log (RocksDB)");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "Prometheus /metrics listen address; empty disables it");
ABSL_FLAG(std::string, port_file, "",
          "if set, write the bound gRPC port and metrics port here (one per line) once serving");
ABSL_FLAG(std::string, shard, "s0",
          "shard name, the prefix of every transaction id: s<N>, N, or a StatefulSet pod name "
          "ending in its ordinal (settle-coordinator-2 is s2)");
ABSL_FLAG(int32_t, shards, 0,
          "shards of the deployment (1 to 256; with it --shard must be s0..s<N-1>): a key "
          "another shard owns is refused, naming the owner. 0: unsharded, every key is taken");
ABSL_FLAG(int32_t, previous_shards, 0,
          "while the number of shards changes (README, \"Changing the number of shards\"): the "
          "count before. A key this shard owns now and another owned then is asked of that one "
          "(--peers) before it is admitted. 0: no change under way");
ABSL_FLAG(std::string, peers, "",
          "with --previous_shards: every shard that runs during the change, as clients list "
          "them (host:port,... or settle-coordinator-{0..3}.settle-coordinator:7070)");
ABSL_FLAG(absl::Duration, max_txn_timeout, absl::Minutes(5), "largest Execute timeout accepted");
ABSL_FLAG(absl::Duration, delivery_rpc_timeout, absl::Seconds(5),
          "deadline of each Commit / Abort attempt");
ABSL_FLAG(absl::Duration, retry_initial, absl::Milliseconds(50),
          "first delay before re-sending a Commit / Abort");
ABSL_FLAG(absl::Duration, retry_max, absl::Seconds(10), "cap of the retry delay");
ABSL_FLAG(absl::Duration, stuck_after, absl::Minutes(1),
          "a decided transaction undelivered this long is reported stuck");
ABSL_FLAG(absl::Duration, retention, absl::Hours(24 * 7),
          "how long finished transactions (and their idempotency keys) are kept");
ABSL_FLAG(absl::Duration, retention_sweep_interval, absl::Minutes(1),
          "how often finished transactions past --retention are looked for and removed");
ABSL_FLAG(int32_t, max_in_flight, 10000,
          "transactions being decided beyond which Execute is refused (RESOURCE_EXHAUSTED); "
          "decided ones waiting for a participant do not count");
ABSL_FLAG(int32_t, max_branches, 16,
          "branches one transaction may have (1 to 1000); more is INVALID_ARGUMENT");
ABSL_FLAG(int32_t, max_payload_bytes, 64 * 1024,
          "bytes one branch's payload may have (1 to 4 MiB); more is RESOURCE_EXHAUSTED");
ABSL_FLAG(int32_t, max_message_bytes, 4 << 20,
          "bytes of one request message (1 KiB to 64 MiB); gRPC refuses a larger one with "
          "RESOURCE_EXHAUSTED before it is parsed");
ABSL_FLAG(int32_t, circuit_failure_threshold, 5,
          "consecutive unreachable answers after which a participant is taken for down: new "
          "payments that need it are refused and it is probed at the retry backoff until it "
          "answers");
ABSL_FLAG(int32_t, max_calls_per_participant, 1000,
          "calls in flight to one participant beyond which no more are made: new payments that "
          "need it are refused (RESOURCE_EXHAUSTED), a decided outcome's call waits its backoff");
ABSL_FLAG(bool, participant_batches, true,
          "send a participant that serves Participant.Batch many calls per message (asked once "
          "per participant; others get the unary calls); false: unary calls only");
ABSL_FLAG(int32_t, saga_action_attempts, 5,
          "MODE_SAGA: attempts of an action that gets no answer before the saga compensates "
          "(compensations are never given up)");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(std::string, test_crash_point, "",
          "TEST ONLY: kills the process (SIGKILL) at this point of the first transaction that "
          "reaches it: 'logged:<state>' once a record is durable (logged:precommitting, "
          "logged:committing; 'after_commit_logged' is logged:committing), "
          "'send:<Phase>:<branch>' before a call goes out (send:PreCommit:1)");
ABSL_FLAG(absl::Duration, three_phase_timeout, absl::Seconds(5),
          "MODE_THREE_PHASE: the bound on message delays; participants' timers use it, and the "
          "PreCommit round waits at most this long for a silent branch");
ABSL_FLAG(std::vector<std::string>, at_rest_keys, {},
          "key files (64 hex digits each; the file name is the key id): transaction records, "
          "payloads included, are sealed with AES-256-GCM under the first; the others open "
          "older records (key rotation)");

namespace {

// TEST ONLY: --test_crash_point fires only once this is set (after the port file is written).
std::atomic<bool> g_crash_point_armed{false};

[[noreturn]] void Die(const absl::Status& s, const char* what) {
  settle::Log(settle::LogLevel::kError, what, {{"error", s.ToString()}});
  std::exit(s.code() == absl::StatusCode::kDataLoss ? 3 : 1);
}

}  // namespace

int main(int argc, char** argv) {
  settle::BlockTerminationSignals();
  // A caller that hangs up must not end the process: the HTTP port's TLS writes go through
  // write(), which raises SIGPIPE on a closed connection (gRPC ignores it too, at its start).
  std::signal(SIGPIPE, SIG_IGN);
  // Debian's abseil checks every lock for deadlock cycles at run time; with a mutex per
  // transaction that cost ~6% of the coordinator's CPU (perf). The tests keep the check on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  settle::ParseFlagsWithEnv(argc, argv,
                            "settle-coordinator: two-phase commit coordinator. Every flag can be "
                            "set as SETTLE_<FLAG> in the environment.");
  settle::RouteProtobufLogs();
  if (!settle::SetLogLevel(absl::GetFlag(FLAGS_log_level))) {
    std::fprintf(stderr, "--log_level must be debug, info, warning or error\n");
    return 2;
  }

  settle::engine::CoordinatorOptions options;
  absl::StatusOr<std::string> shard = settle::NormalizeShardName(absl::GetFlag(FLAGS_shard));
  if (!shard.ok()) {
    std::fprintf(stderr, "--shard: %s\n", std::string(shard.status().message()).c_str());
    return 2;
  }
  options.shard = *shard;
  options.shard_count = absl::GetFlag(FLAGS_shards);
  options.previous_shard_count = absl::GetFlag(FLAGS_previous_shards);
  if (options.shard_count != 0) {
    // A shard retired by the change (s<N-1> when going from N to fewer) keeps running,
    // owning no key, until the idempotency window has passed.
    const int running = std::max(options.shard_count, options.previous_shard_count);
    const std::optional<int> index = settle::ShardIndex(options.shard);
    if (options.shard_count < 0 || options.shard_count > settle::kMaxShards || !index.has_value() ||
        *index >= running) {
      std::fprintf(stderr, "--shards %d: must be 1 to %d, with --shard s0..s<N-1> (got '%s')\n",
                   options.shard_count, settle::kMaxShards, options.shard.c_str());
      return 2;
    }
  }
  if (options.previous_shard_count != 0 &&
      (options.shard_count == 0 || options.previous_shard_count < 0 ||
       options.previous_shard_count > settle::kMaxShards ||
       options.previous_shard_count == options.shard_count || absl::GetFlag(FLAGS_peers).empty())) {
    std::fprintf(stderr,
                 "--previous_shards %d: must be 1 to %d and differ from --shards (%d), with "
                 "--peers listing every shard that runs\n",
                 options.previous_shard_count, settle::kMaxShards, options.shard_count);
    return 2;
  }
  options.max_txn_timeout = absl::GetFlag(FLAGS_max_txn_timeout);
  options.delivery_rpc_timeout = absl::GetFlag(FLAGS_delivery_rpc_timeout);
  options.retry.initial = absl::GetFlag(FLAGS_retry_initial);
  options.retry.max = absl::GetFlag(FLAGS_retry_max);
  options.stuck_after = absl::GetFlag(FLAGS_stuck_after);
  options.retention = absl::GetFlag(FLAGS_retention);
  options.retention_sweep_interval = absl::GetFlag(FLAGS_retention_sweep_interval);
  options.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  options.max_branches = absl::GetFlag(FLAGS_max_branches);
  const int32_t max_payload_bytes = absl::GetFlag(FLAGS_max_payload_bytes);
  const int32_t max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  if (options.max_branches < 1 || options.max_branches > 1000 || max_payload_bytes < 1 ||
      max_payload_bytes > (4 << 20) || max_message_bytes < 1024 || max_message_bytes > (64 << 20)) {
    std::fprintf(stderr,
                 "--max_branches must be 1 to 1000, --max_payload_bytes 1 to 4194304, "
                 "--max_message_bytes 1024 to 67108864\n");
    return 2;
  }
  options.max_payload_bytes = static_cast<size_t>(max_payload_bytes);
  options.max_calls_per_participant = std::max(1, absl::GetFlag(FLAGS_max_calls_per_participant));
  options.protocol.saga_action_attempts = absl::GetFlag(FLAGS_saga_action_attempts);
  if (options.protocol.saga_action_attempts < 1 || options.protocol.saga_action_attempts > 1000) {
    std::fprintf(stderr, "--saga_action_attempts must be between 1 and 1000\n");
    return 2;
  }
  options.protocol.three_phase_timeout = absl::GetFlag(FLAGS_three_phase_timeout);
  if (options.protocol.three_phase_timeout < absl::Milliseconds(1) ||
      options.protocol.three_phase_timeout > absl::Hours(1)) {
    std::fprintf(stderr, "--three_phase_timeout must be between 1ms and 1h\n");
    return 2;
  }
  const std::string crash_point = absl::GetFlag(FLAGS_test_crash_point);
  if (!crash_point.empty()) {
    // "after_commit_logged" is the name the first fault tests used.
    const std::string point =
        crash_point == "after_commit_logged" ? "logged:committing" : crash_point;
    // Armed once the port file is written: a crash before it would look to the test like a
    // coordinator that never started.
    options.at_point_ForTest = [point](const std::string& txn_id, const std::string& at) {
      if (at != point || !g_crash_point_armed.load()) return;
      settle::Log(settle::LogLevel::kWarning, "test crash point reached",
                  {{"txn", txn_id}, {"point", at}});
      std::raise(SIGKILL);
    };
  }

  // --tls_*: TLS for callers, for the calls to participants, mutual TLS as asked.
  const auto tls = settle::TlsOptionsFromFlags();
  if (!tls.ok()) Die(tls.status(), "bad TLS settings");

  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  settle::storage::TxnLog::Options log_options;
  static_cast<settle::storage::StoreOptions&>(log_options) =
      settle::storage::StoreOptionsFromFlags();
  if (const auto keys = absl::GetFlag(FLAGS_at_rest_keys); !keys.empty()) {
    auto cipher = settle::storage::RecordCipher::FromKeyFiles(keys);
    if (!cipher.ok()) Die(cipher.status(), "bad --at_rest_keys");
    log_options.cipher =
        std::make_shared<const settle::storage::RecordCipher>(*std::move(cipher));
  }
  auto log = settle::storage::TxnLog::Open(data_dir, log_options);
  if (!log.ok()) Die(log.status(), "cannot open the decision log; refusing to start");

  auto prom = std::make_shared<prometheus::Registry>();
  settle::engine::Metrics metrics(prom);
  // Health follows the log: NOT_SERVING while writes fail, SERVING once they work again.
  // Set on transitions only; the pointer is published once the server exists.
  std::atomic<grpc::HealthCheckServiceInterface*> health{nullptr};
  std::atomic<bool> log_ok{true};
  std::atomic<bool> recovered{false};
  (*log)->SetStatsObserver([&](const settle::storage::GroupWriteStats& s) {
    metrics.LogGroupWrite(s);
    if (log_ok.exchange(s.ok) != s.ok) {
      settle::Log(s.ok ? settle::LogLevel::kInfo : settle::LogLevel::kError,
                  s.ok ? "the log can be written again" : "the log cannot be written");
      auto* h = health.load();
      if (h != nullptr && recovered.load()) h->SetServingStatus(s.ok);
    }
  });
  // The gauges are computed at each scrape from the coordinator, once there is one; the lock
  // keeps a scrape from using it while it shuts down.
  absl::Mutex gauge_mu;
  settle::engine::Coordinator* gauge_source = nullptr;  // Guarded by gauge_mu.
  const settle::MetricsEndpoint metrics_endpoint = settle::StartMetrics(
      absl::GetFlag(FLAGS_metrics_listen), prom,
      [&gauge_mu, &gauge_source] {
        absl::MutexLock lock(&gauge_mu);
        if (gauge_source != nullptr) gauge_source->RefreshGauges();
      },
      // A shard's series carry its name; an unsharded coordinator's stay as they were.
      options.shard_count > 0 ? prometheus::Labels{{"shard", options.shard}}
                              : prometheus::Labels{});
  const int metrics_port = metrics_endpoint.port;

  // Participants registered as amqp:<queue> are reached through RabbitMQ (--amqp_host).
  std::shared_ptr<settle::AmqpCallLink> amqp_link;
  if (settle::messaging::AmqpConfigured()) {
    auto amqp = settle::messaging::AmqpOptionsFromFlags();
    if (!amqp.ok()) Die(amqp.status(), "bad RabbitMQ settings");
    amqp_link = std::make_shared<settle::AmqpCallLink>(*amqp, prom.get());
    amqp_link->Start();
  }
  settle::ParticipantChannels channels(amqp_link, settle::ChannelCredentials(*tls),
                                       absl::GetFlag(FLAGS_participant_batches));
  settle::engine::CircuitBreakerOptions breaker;
  breaker.failure_threshold = std::max(1, absl::GetFlag(FLAGS_circuit_failure_threshold));
  breaker.probe_initial = options.retry.initial;
  breaker.probe_max = options.retry.max;
  settle::engine::Registry registry(**log, channels, breaker);
  auto scheduler = std::make_unique<settle::engine::ThreadScheduler>();
  settle::engine::RealClock clock;
  // Only while the number of shards changes: the shards that owned keys before.
  std::unique_ptr<settle::GrpcPreviousOwners> previous_owners;
  if (options.previous_shard_count > 0) {
    auto peers = settle::GrpcPreviousOwners::Connect(
        absl::GetFlag(FLAGS_peers), std::max(options.shard_count, options.previous_shard_count),
        *tls);
    if (!peers.ok()) Die(peers.status(), "bad --peers");
    previous_owners = *std::move(peers);
  }
  settle::engine::Coordinator coordinator(options, **log, registry, *scheduler, clock, &metrics,
                                          previous_owners.get());

  settle::engine::AuditTrail audit(**log, clock);
  settle::CoordinatorService coordinator_service(coordinator, audit);
  settle::RegistryService registry_service(coordinator, registry, audit);
  settle::DecisionService decision_service(coordinator);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), settle::ServerCredentials(*tls), &port);
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.RegisterService(&coordinator_service);
  builder.RegisterService(&registry_service);
  builder.RegisterService(&decision_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    Die(absl::UnavailableError(absl::StrCat("cannot listen on ", absl::GetFlag(FLAGS_listen))),
        "cannot start the gRPC server");
  }
  // The HTTP/JSON port calls this server in process, under the same checks.
  std::unique_ptr<settle::http::HttpGateway> http;
  if (const std::string listen = absl::GetFlag(FLAGS_http_listen); !listen.empty()) {
    settle::http::HttpGatewayOptions http_options;
    http_options.listen = listen;
    http_options.tls = *tls;
    http_options.max_body_bytes = static_cast<size_t>(max_message_bytes);
    http_options.services = {"settle.v1.Coordinator", "settle.v1.Registry",
                             "settle.v1.DecisionService"};
    auto started = settle::http::HttpGateway::Start(std::move(http_options), *server);
    if (!started.ok()) Die(started.status(), "cannot start the HTTP port");
    http = *std::move(started);
  }
  // Serving GetDecision from here on; NOT_SERVING (and Execute refused) until recovery is done.
  server->GetHealthCheckService()->SetServingStatus(false);
  health.store(server->GetHealthCheckService());
  if (absl::Status s = coordinator.Recover(); !s.ok()) Die(s, "recovery failed; refusing to start");
  {
    absl::MutexLock lock(&gauge_mu);
    gauge_source = &coordinator;
  }
  recovered.store(true);
  server->GetHealthCheckService()->SetServingStatus(log_ok.load());
  settle::WritePortFile(absl::GetFlag(FLAGS_port_file),
                        {port, metrics_port, http != nullptr ? http->port() : 0});
  g_crash_point_armed.store(true);
  settle::Log(settle::LogLevel::kInfo, "serving",
              {{"grpc_port", absl::StrCat(port)},
               {"http_port", absl::StrCat(http != nullptr ? http->port() : 0)},
               {"metrics_port", absl::StrCat(metrics_port)},
               {"data_dir", data_dir}});

  const int sig = settle::WaitForTerminationSignal();

  settle::Log(settle::LogLevel::kInfo, "shutting down", {{"signal", absl::StrCat(sig)}});
  server->GetHealthCheckService()->SetServingStatus(false);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  // After the gRPC server: its shutdown ends the in-process calls the HTTP requests wait on.
  if (http != nullptr) http->Stop();
  {
    absl::MutexLock lock(&gauge_mu);
    gauge_source = nullptr;
  }
  // In-flight work needs nothing more: every decision taken is in the log, and recovery
  // resumes whatever was not yet delivered. Order matters: once stopped, the engine ignores
  // callbacks; the scheduler goes before the log whose writer it may call.
  if (previous_owners != nullptr) previous_owners->WaitForCalls();  // Their callbacks need it.
  coordinator.Stop();
  if (amqp_link != nullptr) amqp_link->Stop();  // Its callbacks reach a stopped engine.
  scheduler.reset();
  log->reset();
  return 0;
}
