// settle-participant: runs one reference participant (balance, ledger, notification, gateway).

#include <csignal>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/amqp_participant_server.h"
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
#include "participants/outbox_flags.h"
#include "participants/outbox_relay.h"
#include "participants/reference.h"
#include "prometheus/registry.h"
#include "storage/postgres/pg_branch_store.h"
#include "storage/rocks_branch_store.h"
#include "storage/store_flags.h"

ABSL_FLAG(std::string, kind, "", "balance, ledger, notification or gateway");
ABSL_FLAG(std::string, name, "",
          "the name the coordinator registers this service under (default: --kind); calls "
          "naming another participant are refused");
ABSL_FLAG(std::string, listen, "127.0.0.1:0", "gRPC listen address (port 0 picks one)");
ABSL_FLAG(std::string, data_dir, "", "folder of this participant's RocksDB store");
ABSL_FLAG(std::string, store, "",
          "empty: RocksDB in --data_dir; otherwise the PostgreSQL database that keeps the "
          "barrier (and balance's accounts), as a libpq connection string or postgres:// URI "
          "(sslmode= for TLS)");
ABSL_FLAG(int32_t, pg_pool_size, 8, "PostgreSQL: connections that run Prepares, Commits, ...");
ABSL_FLAG(absl::Duration, pg_lock_timeout, absl::Seconds(5),
          "PostgreSQL: a call waiting longer for a row lock fails UNAVAILABLE (retried)");
ABSL_FLAG(std::string, coordinator, "",
          "coordinator address, asked for the decision of branches left prepared; or its "
          "shards (a:1,b:2 or settle-coordinator-{0..3}.settle-coordinator:7070), each id "
          "asked at its shard");
ABSL_FLAG(absl::Duration, in_doubt_after, absl::Seconds(10),
          "a branch prepared this long without a decision is resolved with GetDecision");
ABSL_FLAG(absl::Duration, in_doubt_check_interval, absl::Seconds(2),
          "how often to look for in-doubt branches");
ABSL_FLAG(absl::Duration, barrier_retention, absl::Hours(24 * 7),
          "finished barrier records are removed this long after their last change");
ABSL_FLAG(absl::Duration, barrier_sweep_interval, absl::Minutes(1),
          "how often to look for barrier records past their retention");
ABSL_FLAG(std::string, port_file, "",
          "if set, write the bound gRPC port and metrics port here (one per line) once serving");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:0",
          "Prometheus /metrics listen address; empty disables it");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(std::string, test_crash_point, "",
          "TEST ONLY: 'after_publish_confirmed' kills the notification participant (SIGKILL) once "
          "the broker confirmed a batch and before it is marked published; "
          "'before_sql_commit' (with a PostgreSQL --store) kills it after a call's statements and "
          "barrier row, before their COMMIT");
ABSL_FLAG(absl::Duration, outbox_retention, absl::Hours(24 * 7),
          "notification: messages the broker confirmed are removed this long after");
ABSL_FLAG(std::string, amqp_requests, "",
          "also serve the participant protocol through RabbitMQ (--amqp_host) from this durable "
          "queue: register the participant as amqp:<queue>");

namespace {

// A store that cannot be opened: 2 for its configuration (a DSN that does not parse, a login
// refused), 3 for its data (damaged, or a schema from a newer Settle), 1 for what may pass.
int StoreExitCode(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return 2;
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kFailedPrecondition:
      return 3;
    default:
      return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  settle::BlockTerminationSignals();
  // Debian's abseil checks every lock for deadlock cycles at run time; with a mutex per
  // transaction that cost ~6% of the coordinator's CPU (perf). The tests keep the check on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  settle::ParseFlagsWithEnv(
      argc, argv,
      "settle-participant --kind=balance|ledger|notification|gateway: a reference "
      "participant. Every flag can be set as SETTLE_<FLAG>.");
  settle::RouteProtobufLogs();
  if (!settle::SetLogLevel(absl::GetFlag(FLAGS_log_level))) {
    std::fprintf(stderr, "--log_level must be debug, info, warning or error\n");
    return 2;
  }
  const std::string kind = absl::GetFlag(FLAGS_kind);
  std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  if (data_dir.empty()) data_dir = "settle-data/" + kind;

  const std::string dsn = absl::GetFlag(FLAGS_store);
  absl::StatusOr<std::unique_ptr<settle::storage::BranchStore>> store;
  if (dsn.empty()) {
    store =
        settle::storage::OpenRocksBranchStore(data_dir, settle::storage::StoreOptionsFromFlags());
  } else {
    settle::storage::PgStoreOptions pg;
    pg.dsn = dsn;
    pg.pool_size = absl::GetFlag(FLAGS_pg_pool_size);
    pg.lock_timeout = absl::GetFlag(FLAGS_pg_lock_timeout);
    if (absl::GetFlag(FLAGS_test_crash_point) == "before_sql_commit") {
      pg.before_commit_ForTest = [] {
        settle::Log(settle::LogLevel::kWarning, "test crash point reached", {});
        std::raise(SIGKILL);
      };
    }
    store = settle::storage::OpenPgBranchStore(pg);
  }
  if (!store.ok()) {
    settle::Log(settle::LogLevel::kError, "cannot open the participant store; refusing to start",
                {{"error", store.status().ToString()}});
    return StoreExitCode(store.status());
  }
  auto reference = !dsn.empty() && kind == "balance"
                       ? settle::participants::MakeSqlBalance(**store)
                       : settle::participants::MakeReference(kind, **store);
  if (!reference.ok()) {
    settle::Log(settle::LogLevel::kError, "cannot start the participant",
                {{"error", reference.status().ToString()}});
    return StoreExitCode(reference.status());
  }
  auto prom = std::make_shared<prometheus::Registry>();
  settle::sdk::ParticipantMetrics metrics(*prom);
  const settle::MetricsEndpoint metrics_endpoint =
      settle::StartMetrics(absl::GetFlag(FLAGS_metrics_listen), prom);
  const int metrics_port = metrics_endpoint.port;
  settle::sdk::ParticipantOptions options;
  options.metrics = &metrics;
  options.coordinator_endpoint = absl::GetFlag(FLAGS_coordinator);
  if (!options.coordinator_endpoint.empty()) {
    if (auto shards = settle::ShardMap::Parse(options.coordinator_endpoint); !shards.ok()) {
      std::fprintf(stderr, "--coordinator: %s\n", std::string(shards.status().message()).c_str());
      return 2;
    }
  }
  options.in_doubt_after = absl::GetFlag(FLAGS_in_doubt_after);
  options.in_doubt_check_interval = absl::GetFlag(FLAGS_in_doubt_check_interval);
  options.barrier_retention = absl::GetFlag(FLAGS_barrier_retention);
  options.barrier_sweep_interval = absl::GetFlag(FLAGS_barrier_sweep_interval);
  options.saga = reference->saga.get();
  options.name = absl::GetFlag(FLAGS_name).empty() ? kind : absl::GetFlag(FLAGS_name);
  // --tls_*: TLS for its server and for its calls to the coordinator and to three-phase peers.
  const auto tls = settle::TlsOptionsFromFlags();
  if (!tls.ok()) {
    std::fprintf(stderr, "%s\n", std::string(tls.status().message()).c_str());
    return 2;
  }
  options.tls = *tls;
  auto server_impl =
      std::make_unique<settle::sdk::ParticipantServer>(options, **store, *reference->handler);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), settle::ServerCredentials(*tls), &port);
  builder.RegisterService(server_impl->participant_service());
  builder.RegisterService(server_impl->inspect_service());
  builder.RegisterService(reference->admin.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    settle::Log(settle::LogLevel::kError, "cannot listen",
                {{"listen", absl::GetFlag(FLAGS_listen)}});
    return 1;
  }
  server_impl->StartBackgroundWork();
  std::unique_ptr<settle::sdk::AmqpParticipantServer> amqp_server;
  if (const std::string queue = absl::GetFlag(FLAGS_amqp_requests); !queue.empty()) {
    auto amqp = settle::messaging::AmqpOptionsFromFlags();
    if (!settle::messaging::AmqpConfigured() || !amqp.ok()) {
      settle::Log(settle::LogLevel::kError, "--amqp_requests needs a broker: --amqp_host",
                  {{"error", amqp.status().ToString()}});
      return 2;
    }
    settle::sdk::AmqpServeOptions serve;
    serve.broker = std::move(*amqp);
    serve.queue = queue;
    amqp_server =
        std::make_unique<settle::sdk::AmqpParticipantServer>(serve, *server_impl, prom.get());
    amqp_server->Start();
  }
  // The notification participant exposes its relay's metrics whether or not it has a broker.
  std::unique_ptr<settle::participants::RelayMetrics> relay_metrics;
  std::unique_ptr<settle::participants::OutboxRelay> relay;
  if (kind == "notification") {
    auto target_name = settle::participants::OutboxTargetName();
    auto target = settle::participants::OutboxTargetFromFlags();
    if (!target.ok()) {
      settle::Log(settle::LogLevel::kError, "bad outbox target settings",
                  {{"error", target.status().ToString()}});
      return 2;
    }
    relay_metrics = std::make_unique<settle::participants::RelayMetrics>(*prom, *target_name);
    settle::participants::OutboxRelayOptions relay_options;
    relay_options.published_retention = absl::GetFlag(FLAGS_outbox_retention);
    if (const std::string point = absl::GetFlag(FLAGS_test_crash_point);
        point == "after_publish_confirmed") {
      relay_options.on_confirmed_ForTest = [] {
        settle::Log(settle::LogLevel::kWarning, "test crash point reached", {});
        std::raise(SIGKILL);
      };
    } else if (!point.empty()) {
      std::fprintf(stderr, "unknown --test_crash_point '%s'\n", point.c_str());
      return 2;
    }
    if (target->has_value()) {
      relay = std::make_unique<settle::participants::OutboxRelay>(
          **store, std::move(**target), relay_options, relay_metrics.get());
      relay->Start();
    }
  }
  settle::WritePortFile(absl::GetFlag(FLAGS_port_file), {port, metrics_port});
  settle::Log(settle::LogLevel::kInfo, "serving",
              {{"kind", kind},
               {"grpc_port", absl::StrCat(port)},
               {"metrics_port", absl::StrCat(metrics_port)},
               // Not the DSN itself: it may hold a password.
               {"store", dsn.empty() ? "rocksdb:" + data_dir : "postgres"}});

  const int sig = settle::WaitForTerminationSignal();
  settle::Log(settle::LogLevel::kInfo, "shutting down", {{"signal", absl::StrCat(sig)}});
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server.reset();
  if (amqp_server != nullptr) amqp_server->Stop();
  if (relay != nullptr) relay->Stop();
  server_impl.reset();
  store->reset();  // Flushes queued units; their reactors are gone, nothing answers them.
  return 0;
}
