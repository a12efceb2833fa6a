#include "launch/local_stack.h"

#include <signal.h>

#include <deque>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/credentials.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "launch/http_get.h"
#include "proto/status_mapping.h"

namespace settle::launch {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(30);
const char* const kKinds[] = {"balance", "ledger", "notification"};

template <typename Service>
std::unique_ptr<typename Service::Stub> MakeStub(const std::string& endpoint,
                                                 const TlsOptions& tls) {
  return Service::NewStub(grpc::CreateChannel(endpoint, ChannelCredentials(tls)));
}

// A process that did not start: its last log lines go into the error, since the test's folder
// (and the log) is gone by the time anyone reads a CI report.
absl::Status DidNotStart(const std::string& what, const std::string& log_path) {
  std::ifstream in(log_path);
  std::deque<std::string> tail;
  for (std::string line; std::getline(in, line);) {
    tail.push_back(std::move(line));
    if (tail.size() > 5) tail.pop_front();
  }
  return absl::UnavailableError(absl::StrCat(what, " did not start; the end of ", log_path, ":\n",
                                             absl::StrJoin(tail, "\n")));
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

// Reads every page of a paged admin call: `call(ctx, request, response)` for one page,
// `items(response)` for what it holds.
template <typename Item, typename Resp, typename Req, typename Call, typename Items>
absl::StatusOr<std::vector<Item>> ReadAllPages(Req req, Call call, Items items) {
  std::vector<Item> out;
  do {
    Resp resp;
    absl::Status s = FromGrpcStatus(call(Context().get(), req, &resp));
    if (!s.ok()) return s;
    const auto& page = items(resp);
    out.insert(out.end(), page.begin(), page.end());
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty());
  return out;
}

}  // namespace

LocalStack::LocalStack() = default;
LocalStack::~LocalStack() = default;

std::string LocalStack::coordinator_endpoint(int shard) const {
  return absl::StrCat("127.0.0.1:", coordinator_ports_[shard].load());
}

std::string LocalStack::ShardEndpoints(int count) const {
  std::vector<std::string> all;
  for (int i = 0; i < count; ++i) {
    all.push_back(absl::StrCat("127.0.0.1:", coordinator_ports_[i].load()));
  }
  return absl::StrJoin(all, ",");
}

std::string LocalStack::coordinator_endpoints() const {
  return ShardEndpoints(std::max(1, shard_count_));
}

void LocalStack::Reshard(int n) {
  previous_shard_count_ = shard_count_;
  shard_count_ = n;
  for (int i = 0; i < running_shards() && i < kMaxShards; ++i) {
    if (coordinator_ports_[i] == 0) coordinator_ports_[i] = FreeListenPort();
  }
}

std::string LocalStack::DeadEndpoint() { return absl::StrCat("127.0.0.1:", FreePort()); }

std::string LocalStack::coordinator_metrics_endpoint(int shard) const {
  return absl::StrCat("127.0.0.1:", coordinator_metrics_ports_[shard]);
}

std::string LocalStack::coordinator_http_endpoint(int shard) const {
  return absl::StrCat("127.0.0.1:", coordinator_http_ports_[shard]);
}

std::string LocalStack::participant_endpoint(const std::string& kind) const {
  return absl::StrCat("127.0.0.1:", participant_ports_.at(kind));
}

std::string LocalStack::participant_metrics_endpoint(const std::string& kind) const {
  return absl::StrCat("127.0.0.1:", participant_metrics_ports_.at(kind));
}

absl::Status LocalStack::StartCoordinator(const std::vector<std::string>& extra_flags) {
  for (int i = 0; i < std::max(1, shard_count_); ++i) {
    if (absl::Status s = StartShard(i, extra_flags); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status LocalStack::StartShard(int index, const std::vector<std::string>& extra_flags) {
  if (shard_count_ < 0 || running_shards() > kMaxShards || index < 0 || index >= running_shards()) {
    return absl::InvalidArgumentError(absl::StrCat("no shard ", index, " of ", shard_count_));
  }
  // One unsharded coordinator keeps the names it always had.
  const std::string name =
      shard_count_ == 0 ? "coordinator" : absl::StrCat("coordinator-", ShardName(index));
  coordinators_[index].reset();
  std::atomic<int>& port_slot = coordinator_ports_[index];
  if (port_slot == 0) port_slot = FreeListenPort();
  const std::string port_file = dir_.Sub(name + ".port");
  std::filesystem::remove(port_file);
  std::vector<std::string> args = {
      absl::StrCat("--listen=127.0.0.1:", port_slot.load()),
      "--metrics_listen=127.0.0.1:0",
      "--data_dir=" + dir_.Sub(name),
      "--port_file=" + port_file,
      "--retry_initial=20ms",
      "--retry_max=500ms",
  };
  if (shard_count_ > 0) {
    args.push_back("--shard=" + ShardName(index));
    args.push_back(absl::StrCat("--shards=", shard_count_));
    if (previous_shard_count_ > 0) {
      args.push_back(absl::StrCat("--previous_shards=", previous_shard_count_));
      args.push_back("--peers=" + ShardEndpoints(running_shards()));
    }
  }
  for (auto& flag : PowerCutFlags(name)) args.push_back(std::move(flag));
  args.insert(args.end(), tls_flags_.begin(), tls_flags_.end());
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  auto p = Process::Start(BinaryPath("settle-coordinator"), args, dir_.Sub(name + ".log"));
  if (!p.ok()) return p.status();
  coordinators_[index] = std::move(*p);
  const int port = WaitForPortFile(port_file, kStartTimeout, coordinators_[index].get());
  if (port == 0) return DidNotStart("the " + name, dir_.Sub(name + ".log"));
  port_slot = port;
  std::ifstream ports(port_file);
  int grpc_port = 0;
  ports >> grpc_port >> coordinator_metrics_ports_[index] >> coordinator_http_ports_[index];
  auto client = client::SettleClient::ConnectShards(coordinator_endpoints(), tls_);
  if (!client.ok()) return client.status();
  client_ = *std::move(client);
  auto every = client::SettleClient::ConnectShards(ShardEndpoints(running_shards()), tls_);
  if (!every.ok()) return every.status();
  every_shard_ = *std::move(every);
  return absl::OkStatus();
}

absl::Status LocalStack::StartParticipantAs(const std::string& name, const std::string& kind,
                                            const std::vector<std::string>& extra_flags) {
  kinds_[name] = kind;
  return StartParticipant(name, extra_flags);
}

absl::Status LocalStack::StartParticipant(const std::string& name,
                                          const std::vector<std::string>& extra_flags) {
  const std::string kind = kinds_.emplace(name, name).first->second;
  participants_.erase(name);
  if (participant_ports_[name] == 0) participant_ports_[name] = FreeListenPort();
  const std::string port_file = dir_.Sub(name + ".port");
  std::filesystem::remove(port_file);
  std::vector<std::string> args = {
      "--kind=" + kind,
      "--name=" + name,
      absl::StrCat("--listen=127.0.0.1:", participant_ports_[name]),
      "--data_dir=" + dir_.Sub(name),
      "--port_file=" + port_file,
      // Every shard that runs: a participant asks decisions by the id's shard.
      "--coordinator=" + ShardEndpoints(running_shards()),
  };
  for (auto& flag : PowerCutFlags(name)) args.push_back(std::move(flag));
  args.insert(args.end(), tls_flags_.begin(), tls_flags_.end());
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  auto p = Process::Start(BinaryPath("settle-participant"), args, dir_.Sub(name + ".log"));
  if (!p.ok()) return p.status();
  participants_[name] = std::move(*p);
  const int port = WaitForPortFile(port_file, kStartTimeout, participants_[name].get());
  if (port == 0) return DidNotStart(name, dir_.Sub(name + ".log"));
  participant_ports_[name] = port;
  std::ifstream ports(port_file);
  int grpc_port = 0;
  ports >> grpc_port >> participant_metrics_ports_[name];
  return absl::OkStatus();
}

std::string LocalStack::notifier_endpoint() const {
  return absl::StrCat("127.0.0.1:", notifier_port_);
}

std::string LocalStack::notifier_metrics_endpoint() const {
  return absl::StrCat("127.0.0.1:", notifier_metrics_port_);
}

std::string LocalStack::notifier_http_endpoint() const {
  return absl::StrCat("127.0.0.1:", notifier_http_port_);
}

absl::Status LocalStack::StartNotifier(const std::vector<std::string>& flags) {
  notifier_.reset();
  if (notifier_port_ == 0) notifier_port_ = FreeListenPort();
  const std::string port_file = dir_.Sub("notifier.port");
  std::filesystem::remove(port_file);
  std::vector<std::string> args = {absl::StrCat("--listen=127.0.0.1:", notifier_port_),
                                   "--data_dir=" + dir_.Sub("notifier"),
                                   "--port_file=" + port_file};
  for (auto& flag : PowerCutFlags("notifier")) args.push_back(std::move(flag));
  args.insert(args.end(), tls_flags_.begin(), tls_flags_.end());
  args.insert(args.end(), flags.begin(), flags.end());
  auto p = Process::Start(BinaryPath("settle-notifier"), args, dir_.Sub("notifier.log"));
  if (!p.ok()) return p.status();
  notifier_ = std::move(*p);
  if (WaitForPortFile(port_file, kStartTimeout, notifier_.get()) == 0) {
    return DidNotStart("settle-notifier", dir_.Sub("notifier.log"));
  }
  std::ifstream ports(port_file);
  int grpc_port = 0;
  ports >> grpc_port >> notifier_metrics_port_ >> notifier_http_port_;
  return absl::OkStatus();
}

absl::Status LocalStack::StartAll() {
  if (absl::Status s = StartCoordinator(); !s.ok()) return s;
  for (const char* kind : kKinds) {
    if (absl::Status s = StartParticipant(kind); !s.ok()) return s;
  }
  return RegisterAll();
}

absl::Status LocalStack::RegisterAll() {
  for (const auto& [name, kind] : kinds_) {
    auto at = registered_at_.find(name);
    auto r = client_->RegisterParticipant(
        name, at != registered_at_.end() ? at->second : participant_endpoint(name));
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

absl::Status LocalStack::RegisterAt(const std::string& name, const std::string& endpoint) {
  registered_at_[name] = endpoint;
  return client_->RegisterParticipant(name, endpoint).status();
}

bool LocalStack::CoordinatorServing() const {
  auto stub = MakeStub<grpc::health::v1::Health>(coordinator_endpoint(), tls_);
  grpc::health::v1::HealthCheckResponse resp;
  return stub->Check(Context().get(), {}, &resp).ok() &&
         resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

absl::Status LocalStack::OpenAccount(const std::string& account, int64_t amount_minor) {
  v1::OpenAccountRequest req;
  req.set_account(account);
  req.set_initial_minor(amount_minor);
  v1::Account resp;
  return FromGrpcStatus(MakeStub<v1::BalanceAdmin>(participant_endpoint("balance"), tls_)
                            ->OpenAccount(Context().get(), req, &resp));
}

absl::StatusOr<v1::Account> LocalStack::Account(const std::string& account) {
  v1::GetAccountRequest req;
  req.set_account(account);
  v1::Account resp;
  absl::Status s = FromGrpcStatus(MakeStub<v1::BalanceAdmin>(participant_endpoint("balance"), tls_)
                                      ->GetAccount(Context().get(), req, &resp));
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<std::vector<v1::JournalEntry>> LocalStack::Journal() {
  auto stub = MakeStub<v1::LedgerAdmin>(participant_endpoint("ledger"), tls_);
  return ReadAllPages<v1::JournalEntry, v1::ListEntriesResponse>(
      v1::ListEntriesRequest(),
      [&](auto* ctx, const auto& req, auto* resp) { return stub->ListEntries(ctx, req, resp); },
      [](const auto& resp) -> const auto& { return resp.entries(); });
}

absl::StatusOr<std::vector<v1::OutboxMessage>> LocalStack::Outbox(const std::string& name) {
  auto stub = MakeStub<v1::NotificationAdmin>(participant_endpoint(name), tls_);
  return ReadAllPages<v1::OutboxMessage, v1::ListMessagesResponse>(
      v1::ListMessagesRequest(),
      [&](auto* ctx, const auto& req, auto* resp) { return stub->ListMessages(ctx, req, resp); },
      [](const auto& resp) -> const auto& { return resp.messages(); });
}

absl::StatusOr<std::vector<v1::Delivery>> LocalStack::Deliveries(v1::DeliveryState state) {
  auto stub = MakeStub<v1::NotifierAdmin>(notifier_endpoint(), tls_);
  v1::ListDeliveriesRequest request;
  request.set_state(state);
  return ReadAllPages<v1::Delivery, v1::ListDeliveriesResponse>(
      request,
      [&](auto* ctx, const auto& req, auto* resp) { return stub->ListDeliveries(ctx, req, resp); },
      [](const auto& resp) -> const auto& { return resp.deliveries(); });
}

absl::Status LocalStack::ConfigureGateway(const v1::GatewayConfig& config) {
  v1::GatewayConfig resp;
  return FromGrpcStatus(MakeStub<v1::GatewayAdmin>(participant_endpoint("gateway"), tls_)
                            ->Configure(Context().get(), config, &resp));
}

absl::StatusOr<std::vector<v1::GatewayChargeRecord>> LocalStack::Charges() {
  auto stub = MakeStub<v1::GatewayAdmin>(participant_endpoint("gateway"), tls_);
  return ReadAllPages<v1::GatewayChargeRecord, v1::ListChargesResponse>(
      v1::ListChargesRequest(),
      [&](auto* ctx, const auto& req, auto* resp) { return stub->ListCharges(ctx, req, resp); },
      [](const auto& resp) -> const auto& { return resp.charges(); });
}

absl::StatusOr<std::vector<v1::GatewayRefundRecord>> LocalStack::Refunds() {
  auto stub = MakeStub<v1::GatewayAdmin>(participant_endpoint("gateway"), tls_);
  return ReadAllPages<v1::GatewayRefundRecord, v1::ListRefundsResponse>(
      v1::ListRefundsRequest(),
      [&](auto* ctx, const auto& req, auto* resp) { return stub->ListRefunds(ctx, req, resp); },
      [](const auto& resp) -> const auto& { return resp.refunds(); });
}

absl::StatusOr<std::vector<v1::BranchRecordInfo>> LocalStack::Branches(const std::string& kind) {
  auto stub = MakeStub<v1::ParticipantInspect>(participant_endpoint(kind), tls_);
  v1::ListBranchesRequest req;
  req.set_page_size(1000);
  return ReadAllPages<v1::BranchRecordInfo, v1::ListBranchesResponse>(
      req,
      [&](auto* ctx, const auto& r, auto* resp) { return stub->ListBranches(ctx, r, resp); },
      [](const auto& resp) -> const auto& { return resp.branches(); });
}

absl::StatusOr<std::vector<v1::Transaction>> LocalStack::Transactions(
    v1::ListTransactionsRequest request) const {
  std::vector<v1::Transaction> out;
  request.set_page_size(1000);
  for (int shard = 0; shard < every_shard_->shard_count(); ++shard) {
    request.clear_page_token();
    do {
      auto page = every_shard_->ListTransactions(request, shard);
      if (!page.ok()) return page.status();
      out.insert(out.end(), page->transactions().begin(), page->transactions().end());
      request.set_page_token(page->next_page_token());
    } while (!request.page_token().empty());
  }
  return out;
}

absl::StatusOr<std::vector<v1::Transaction>> LocalStack::ActiveTransactions() const {
  v1::ListTransactionsRequest req;
  for (auto s : {v1::TXN_STATE_PREPARING, v1::TXN_STATE_PRECOMMITTING, v1::TXN_STATE_COMMITTING,
                 v1::TXN_STATE_ABORTING,
                 v1::TXN_STATE_COMPENSATING, v1::TXN_STATE_NEEDS_ATTENTION}) {
    req.add_states(s);
  }
  return Transactions(std::move(req));
}

std::unique_ptr<v1::Participant::Stub> LocalStack::ParticipantStub(const std::string& kind) {
  return MakeStub<v1::Participant>(participant_endpoint(kind), tls_);
}

absl::StatusOr<std::unique_ptr<Process>> LocalStack::StartFaultProxy(
    const std::string& kind, const std::vector<std::string>& flags) {
  const std::string port_file = dir_.Sub("proxy-" + kind + ".port");
  std::vector<std::string> args = {"--target=" + participant_endpoint(kind),
                                    "--port_file=" + port_file};
  args.insert(args.end(), flags.begin(), flags.end());
  auto p = Process::Start(BinaryPath("settle-faultproxy"), args, dir_.Sub("proxy-" + kind + ".log"));
  if (!p.ok()) return p.status();
  const int port = WaitForPortFile(port_file, kStartTimeout);
  if (port == 0) return DidNotStart("the fault proxy", dir_.Sub("proxy-" + kind + ".log"));
  auto registered = client_->RegisterParticipant(kind, absl::StrCat("127.0.0.1:", port));
  if (!registered.ok()) return registered.status();
  return p;
}

int LocalStack::ProxyLogCount(const std::string& kind, const std::string& needle) const {
  std::ifstream log(dir_.path() + "/proxy-" + kind + ".log");
  int n = 0;
  for (std::string line; std::getline(log, line);) n += line.find(needle) != std::string::npos;
  return n;
}

std::vector<std::string> LocalStack::PowerCutFlags(const std::string& name) const {
  if (!power_cuts_) return {};
  return {"--test_power_cut_journal=" + dir_.Sub(name + ".synced")};
}

std::vector<std::string> LocalStack::ParticipantNames() const {
  std::vector<std::string> out;
  for (const auto& [name, kind] : kinds_) out.push_back(name);
  return out;
}

absl::Status LocalStack::ArmPowerCut(const std::string& name, int nth, bool after) {
  std::ofstream cut(dir_.Sub(name + ".synced.cut"), std::ios::trunc);
  cut << nth << (after ? " after\n" : " before\n");
  cut.close();
  if (!cut) return absl::InternalError("cannot write the crash point of " + name);
  return absl::OkStatus();
}

absl::StatusOr<storage::PowerCutReport> LocalStack::PowerCut(std::mt19937& rng) {
  std::vector<Process*> all;
  for (auto& c : coordinators_) {
    if (c != nullptr) all.push_back(c.get());
  }
  for (auto& [name, p] : participants_) all.push_back(p.get());
  if (notifier_ != nullptr) all.push_back(notifier_.get());
  // Frozen first, so that none runs on after another is gone.
  for (Process* p : all) p->Signal(SIGSTOP);
  for (Process* p : all) p->Signal(SIGKILL);
  for (Process* p : all) {
    // A process killed in an fsync goes only once that I/O is done.
    if (!p->Wait(absl::Seconds(30)).has_value()) {
      return absl::DeadlineExceededError("a process outlived SIGKILL by 30 s");
    }
  }
  storage::PowerCutReport total;
#if SETTLE_TEST_HOOKS
  std::vector<std::string> names = ParticipantNames();
  names.push_back("coordinator");
  if (notifier_ != nullptr) names.push_back("notifier");
  for (const std::string& name : names) {
    std::filesystem::remove(dir_.Sub(name + ".synced.cut"));
    auto report = storage::RollBackToSynced(dir_.Sub(name + ".synced"), rng);
    if (!report.ok()) return report.status();
    total += *report;
  }
#else
  return absl::FailedPreconditionError("built with -DSETTLE_TEST_HOOKS=OFF: no power cuts");
#endif
  return total;
}

std::vector<std::pair<std::string, std::string>> LocalStack::ServicesOfCoordinatorAndBalance()
    const {
  const std::string c = coordinator_endpoint(), b = participant_endpoint("balance");
  return {{"settle.v1.Coordinator", c},    {"settle.v1.Registry", c},
          {"settle.v1.DecisionService", c}, {"settle.v1.Participant", b},
          {"settle.v1.ParticipantInspect", b}, {"settle.v1.BalanceAdmin", b}};
}

}  // namespace settle::launch
