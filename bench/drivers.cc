#include "bench/drivers.h"

#include <atomic>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/settle_client.h"
#include "grpcpp/create_channel.h"
#include "settle/v1/reference.pb.h"

namespace settle::bench {
namespace {

constexpr auto kCallTimeout = std::chrono::seconds(30);

std::string CodeName(const grpc::Status& s) {
  return absl::AsciiStrToUpper(absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code())));
}

std::shared_ptr<grpc::Channel> Channel(const std::string& endpoint) {
  grpc::ChannelArguments args;
  // A channel of its own per driver, so the bench does not share a connection with anything.
  args.SetInt("settle.bench.channel", 1);
  // As the coordinator's channels to participants: no transparent retries, on both sides.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  return grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
}

class SettleDriver final : public Driver {
 public:
  SettleDriver(const std::string& coordinator, const Workload& workload, std::string run_id)
      : stub_(v1::Coordinator::NewStub(Channel(coordinator))),
        workload_(workload),
        run_id_(std::move(run_id)) {}

  void Run(uint64_t seq, std::function<void(std::string)> done) override {
    struct Call {
      grpc::ClientContext ctx;
      v1::ExecuteRequest req;
      v1::ExecuteResponse resp;
    };
    auto call = std::make_shared<Call>();
    call->ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    call->req.set_idempotency_key(absl::StrCat(run_id_, "-", seq));
    call->req.mutable_timeout()->set_seconds(10);
    for (auto& b : workload_.Branches(seq)) {
      auto* br = call->req.add_branches();
      br->set_participant(std::move(b.participant));
      br->set_payload(std::move(b.payload));
    }
    Call* raw = call.get();
    stub_->async()->Execute(&raw->ctx, &raw->req, &raw->resp,
                            [call = std::move(call), done = std::move(done)](grpc::Status s) {
                              if (!s.ok()) return done(CodeName(s));
                              done(call->resp.outcome() == v1::OUTCOME_COMMITTED ? "committed"
                                                                                : "aborted");
                            });
  }

 private:
  std::unique_ptr<v1::Coordinator::Stub> stub_;
  const Workload& workload_;
  const std::string run_id_;
};

// One baseline transaction: fan-out state shared by its RPC callbacks.
struct FanOut {
  std::string txn_id;
  std::vector<v1::Participant::Stub*> stubs;
  std::vector<BranchSpec> branches;
  std::function<void(std::string)> done;
  std::atomic<int> pending{0};
  std::atomic<bool> all_yes{true};
  std::string error;  // First RPC error, written before `pending` reaches 0.
};

class BaselineDriver final : public Driver {
 public:
  BaselineDriver(const std::map<std::string, std::string>& participants, const Workload& workload,
                 std::string run_id)
      : workload_(workload), run_id_(std::move(run_id)) {
    for (const auto& [name, endpoint] : participants) {
      stubs_[name] = v1::Participant::NewStub(Channel(endpoint));
    }
  }

  void Run(uint64_t seq, std::function<void(std::string)> done) override {
    auto t = std::make_shared<FanOut>();
    t->txn_id = absl::StrCat(run_id_, "-b-", seq);
    t->branches = workload_.Branches(seq);
    for (const auto& b : t->branches) t->stubs.push_back(stubs_.at(b.participant).get());
    t->done = std::move(done);
    t->pending = static_cast<int>(t->branches.size());
    for (size_t i = 0; i < t->branches.size(); ++i) Prepare(t, i);
  }

 private:
  static void Prepare(const std::shared_ptr<FanOut>& t, size_t i) {
    struct Call {
      grpc::ClientContext ctx;
      v1::PrepareRequest req;
      v1::PrepareResponse resp;
    };
    auto call = std::make_shared<Call>();
    call->ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    call->req.set_txn_id(t->txn_id);
    call->req.set_branch_id(static_cast<uint32_t>(i));
    call->req.set_participant(t->branches[i].participant);
    call->req.set_payload(t->branches[i].payload);
    Call* raw = call.get();
    t->stubs[i]->async()->Prepare(&raw->ctx, &raw->req, &raw->resp,
                                  [t, call](grpc::Status s) {
                                    if (!s.ok() || call->resp.vote() != v1::VOTE_YES) {
                                      t->all_yes = false;
                                    }
                                    if (t->pending.fetch_sub(1) == 1) Decide(t);
                                  });
  }

  static void Decide(const std::shared_ptr<FanOut>& t) {
    const bool commit = t->all_yes.load();
    t->pending = static_cast<int>(t->branches.size());
    for (size_t i = 0; i < t->branches.size(); ++i) {
      auto ctx = std::make_shared<grpc::ClientContext>();
      ctx->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
      auto finish = [t, ctx, commit](grpc::Status s) {
        if (!s.ok() && t->error.empty()) t->error = CodeName(s);
        if (t->pending.fetch_sub(1) == 1) {
          t->done(!t->error.empty() ? t->error : commit ? "committed" : "aborted");
        }
      };
      if (commit) {
        auto req = std::make_shared<v1::CommitRequest>();
        auto resp = std::make_shared<v1::CommitResponse>();
        req->set_txn_id(t->txn_id);
        req->set_branch_id(static_cast<uint32_t>(i));
        t->stubs[i]->async()->Commit(ctx.get(), req.get(), resp.get(),
                                     [finish, req, resp](grpc::Status s) { finish(s); });
      } else {
        auto req = std::make_shared<v1::AbortRequest>();
        auto resp = std::make_shared<v1::AbortResponse>();
        req->set_txn_id(t->txn_id);
        req->set_branch_id(static_cast<uint32_t>(i));
        t->stubs[i]->async()->Abort(ctx.get(), req.get(), resp.get(),
                                    [finish, req, resp](grpc::Status s) { finish(s); });
      }
    }
  }

  std::map<std::string, std::unique_ptr<v1::Participant::Stub>> stubs_;
  const Workload& workload_;
  const std::string run_id_;
};

}  // namespace

Workload::Workload(int branches, int accounts, size_t payload_bytes, double abort_ratio)
    : branches_(branches),
      accounts_(accounts),
      payload_bytes_(payload_bytes),
      abort_ratio_(abort_ratio) {}

std::vector<std::string> Workload::Accounts() const {
  std::vector<std::string> out;
  for (int i = 0; i < accounts_; ++i) out.push_back(absl::StrCat("acct-", i));
  return out;
}

std::vector<BranchSpec> Workload::Branches(uint64_t seq) const {
  const std::string from = absl::StrCat("acct-", seq % accounts_);
  const std::string to = absl::StrCat("acct-", (seq + 1) % accounts_);
  // Deterministic spread of aborts: seq scaled by a large odd constant, mod 10000.
  const bool abort = static_cast<double>((seq * 2654435761u) % 10000) < abort_ratio_ * 10000;
  // An overdraft: balance votes NO.
  const int64_t amount = abort ? Workload::kOpeningBalance * 4 : 1;
  // The reference payment (balance, ledger, notification), its receipt padded to size.
  const v1::ExecuteRequest transfer = client::MakeTransfer("", from, to, amount);
  std::vector<BranchSpec> three;
  for (const auto& b : transfer.branches()) three.push_back({b.participant(), b.payload()});
  v1::NotificationPayload note;
  note.ParseFromString(three[2].payload);
  note.set_body(std::string(payload_bytes_, 'x'));
  three[2].payload = note.SerializeAsString();
  std::vector<BranchSpec> out;
  for (int i = 0; i < branches_; ++i) out.push_back(three[i % 3]);
  return out;
}

std::unique_ptr<Driver> MakeSettleDriver(const std::string& coordinator, const Workload& workload,
                                         const std::string& run_id) {
  return std::make_unique<SettleDriver>(coordinator, workload, run_id);
}

std::unique_ptr<Driver> MakeBaselineDriver(const std::map<std::string, std::string>& participants,
                                           const Workload& workload, const std::string& run_id) {
  return std::make_unique<BaselineDriver>(participants, workload, run_id);
}

}  // namespace settle::bench
