#ifndef SETTLE_LAUNCH_LOCAL_STACK_H_
#define SETTLE_LAUNCH_LOCAL_STACK_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/settle_client.h"
#include "launch/process.h"
#include "launch/wait.h"
#include "settle/v1/participant.grpc.pb.h"
#include "settle/v1/reference.grpc.pb.h"
#include "storage/power_cut_fs.h"

namespace settle::launch {

// The whole product on loopback, as real processes: settle-coordinator and the three reference
// participants, each with its own RocksDB folder under one temp dir, each on a free port that
// it keeps across restarts. Not thread-safe, except coordinator_endpoint(), which load threads
// call while the test restarts the coordinator.
class LocalStack final {
 public:
  LocalStack();
  ~LocalStack();

  // Before anything starts: run `n` coordinator shards (s0..s<n-1>, each with --shards=n, its
  // own folder and port) instead of one unsharded coordinator; participants and client() get
  // every shard's endpoint. 1 to kMaxShards.
  static constexpr int kMaxShards = 8;
  void UseShards(int n) { shard_count_ = n; }
  int shard_count() const { return shard_count_; }
  // Changing the number of shards (README, "Changing the number of shards"): shards started
  // from now on run with --shards=n, --previous_shards=<the count before> and --peers=<every
  // shard that runs during the change>; client() and participants started from now on route
  // over them. A new shard's port is reserved here; StartShard starts it.
  void Reshard(int n);

  // Starts (or restarts on the same data and port) the coordinator, or every shard; extra flags
  // appended.
  absl::Status StartCoordinator(const std::vector<std::string>& extra_flags = {});
  // Starts (or restarts on the same data and port) shard `index` alone.
  absl::Status StartShard(int index, const std::vector<std::string>& extra_flags = {});
  // Starts (or restarts) the participant `name`; its kind is `name` unless StartParticipantAs
  // gave it another.
  absl::Status StartParticipant(const std::string& name,
                                const std::vector<std::string>& extra_flags = {});
  // Another instance of a reference kind under its own name, data dir and port (for example a
  // second notification service).
  absl::Status StartParticipantAs(const std::string& name, const std::string& kind,
                                  const std::vector<std::string>& extra_flags = {});
  // Starts (or restarts on the same data and port) settle-notifier with `flags` (its broker,
  // webhooks and key); its admin API is at notifier_endpoint().
  absl::Status StartNotifier(const std::vector<std::string>& flags);
  // Starts all four and registers the participants under their kind's name.
  absl::Status StartAll();
  // Registers every participant started so far under its name, at its gRPC address or at the
  // endpoint RegisterAt gave it.
  absl::Status RegisterAll();
  // Registers participant `name` at `endpoint` (e.g. amqp:<queue>), now and in RegisterAll.
  absl::Status RegisterAt(const std::string& name, const std::string& endpoint);

  Process& coordinator() { return *coordinators_[0]; }
  Process& shard(int index) { return *coordinators_[index]; }
  Process& participant(const std::string& kind) { return *participants_.at(kind); }
  Process& notifier() { return *notifier_; }
  std::string notifier_endpoint() const;
  std::string notifier_metrics_endpoint() const;
  // Its HTTP port, when started with --http_listen.
  std::string notifier_http_endpoint() const;
  std::string coordinator_endpoint(int shard = 0) const;  // Shard s<shard>'s when sharded.
  // Every shard's, comma-separated (ShardMap::Parse), or the one coordinator's.
  std::string coordinator_endpoints() const;
  // An address where nothing listens, for a participant that is registered but down.
  static std::string DeadEndpoint();
  // host:port of the coordinator's Prometheus endpoint.
  std::string coordinator_metrics_endpoint(int shard = 0) const;
  // host:port of its HTTP/JSON port, when started with --http_listen (else port 0).
  std::string coordinator_http_endpoint(int shard = 0) const;
  std::string participant_endpoint(const std::string& kind) const;
  std::string participant_metrics_endpoint(const std::string& kind) const;
  const client::SettleClient& client() const { return *client_; }
  const std::string& dir() const { return dir_.path(); }

  // The coordinator's grpc.health.v1 answer is SERVING.
  bool CoordinatorServing() const;

  // Every transaction the coordinator (every shard that runs, a retired one too) lists for
  // `request`, all pages followed.
  absl::StatusOr<std::vector<v1::Transaction>> Transactions(
      v1::ListTransactionsRequest request) const;
  // The transactions not yet terminal (preparing, committing, aborting, compensating, needing
  // attention), all pages followed.
  absl::StatusOr<std::vector<v1::Transaction>> ActiveTransactions() const;

  // Reference data, read through the participants' admin APIs.
  absl::Status OpenAccount(const std::string& account, int64_t amount_minor);
  absl::StatusOr<v1::Account> Account(const std::string& account);
  absl::StatusOr<std::vector<v1::JournalEntry>> Journal();
  absl::StatusOr<std::vector<v1::OutboxMessage>> Outbox(const std::string& name = "notification");
  // settle-notifier's deliveries in `state` (UNSPECIFIED: all), every page followed.
  absl::StatusOr<std::vector<v1::Delivery>> Deliveries(
      v1::DeliveryState state = v1::DELIVERY_STATE_UNSPECIFIED);
  absl::StatusOr<std::vector<v1::BranchRecordInfo>> Branches(const std::string& kind);
  // The card gateway's admin API (participant "gateway").
  absl::Status ConfigureGateway(const v1::GatewayConfig& config);
  absl::StatusOr<std::vector<v1::GatewayChargeRecord>> Charges();
  absl::StatusOr<std::vector<v1::GatewayRefundRecord>> Refunds();
  std::unique_ptr<v1::Participant::Stub> ParticipantStub(const std::string& kind);
  // Every gRPC service a client reaches on the coordinator and on the balance participant
  // ("settle.v1.Coordinator", ...), each with its endpoint: with their descriptors, every method.
  std::vector<std::pair<std::string, std::string>> ServicesOfCoordinatorAndBalance() const;

  // TLS: every process started from now on gets `process_flags` (its --tls_* flags), and this
  // harness calls them with `client`.
  void EnableTls(TlsOptions client, std::vector<std::string> process_flags) {
    tls_ = std::move(client);
    tls_flags_ = std::move(process_flags);
  }

  // Simulated power cuts (storage/power_cut_fs.h): the coordinator, participants and notifier
  // started from now on journal what reached their disk, to <dir>/<name>.synced.
  void EnablePowerCuts() { power_cuts_ = true; }
  // Stops every process at once (SIGSTOP to all, then SIGKILL), then rolls each data dir back to
  // what a power cut would have left, tearing unsynced tails at bytes `rng` picks. Everything is
  // down afterwards until started again; crash points are disarmed.
  absl::StatusOr<storage::PowerCutReport> PowerCut(std::mt19937& rng);
  // A crash point for the power cut: the `nth` sync (of a file or a directory) of `name`
  // ("coordinator" or a participant) from now on kills it just before (`after` false) or just
  // after the sync.
  absl::Status ArmPowerCut(const std::string& name, int nth, bool after);
  // The names of the participants started so far.
  std::vector<std::string> ParticipantNames() const;

  // Starts settle-faultproxy in front of participant `kind` with `flags` (its faults), logging
  // to <dir>/proxy-<kind>.log, and registers the proxy with the coordinator under `kind`
  // (RegisterAll points the coordinator back at the participant).
  absl::StatusOr<std::unique_ptr<Process>> StartFaultProxy(const std::string& kind,
                                                           const std::vector<std::string>& flags);
  // Lines of the proxy's log in front of `kind` that contain `needle` (e.g. "\"injected\"").
  int ProxyLogCount(const std::string& kind, const std::string& needle) const;

 private:
  // The flag that journals `name`'s disk writes, or nothing without power cuts.
  std::vector<std::string> PowerCutFlags(const std::string& name) const;

  TempDir dir_;
  TlsOptions tls_;
  std::vector<std::string> tls_flags_;
  bool power_cuts_ = false;
  int shard_count_ = 0;  // 0: one unsharded coordinator.
  int previous_shard_count_ = 0;  // While the number of shards changes (Reshard).
  // Every shard that runs: the larger of both counts (a retired shard runs until the
  // idempotency window has passed).
  int running_shards() const { return std::max({1, shard_count_, previous_shard_count_}); }
  std::string ShardEndpoints(int count) const;
  // Read by load threads (coordinator_endpoint) while a test restarts a coordinator.
  std::array<std::atomic<int>, kMaxShards> coordinator_ports_{};
  std::array<int, kMaxShards> coordinator_metrics_ports_{};
  std::array<int, kMaxShards> coordinator_http_ports_{};
  std::map<std::string, std::string> kinds_;  // Participant name -> reference kind.
  std::map<std::string, std::string> registered_at_;  // Name -> endpoint, when not its port.
  std::map<std::string, int> participant_ports_;
  std::map<std::string, int> participant_metrics_ports_;
  std::array<std::unique_ptr<Process>, kMaxShards> coordinators_;
  std::map<std::string, std::unique_ptr<Process>> participants_;
  int notifier_port_ = 0;
  int notifier_metrics_port_ = 0;
  int notifier_http_port_ = 0;
  std::unique_ptr<Process> notifier_;
  std::unique_ptr<client::SettleClient> client_;
  // Over every shard that runs, retired ones too (Transactions reads them all).
  std::unique_ptr<client::SettleClient> every_shard_;
};

}  // namespace settle::launch

#endif  // SETTLE_LAUNCH_LOCAL_STACK_H_
