#include "bench/drivers.h"

#include <atomic>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/settle_client.h"
#include "common/credentials.h"
#include "common/shard_map.h"
#include "grpcpp/create_channel.h"
#include "proto/time_convert.h"
#include "proto/unary_call.h"
#include "settle/v1/reference.pb.h"
#include "storage/txn_id.h"

namespace settle::bench {
namespace {

constexpr absl::Duration kCallTimeout = absl::Seconds(30);

absl::Time Deadline() { return absl::Now() + kCallTimeout; }

std::string CodeName(const grpc::Status& s) {
  return absl::AsciiStrToUpper(
      absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code())));
}

std::shared_ptr<grpc::Channel> Channel(const std::string& endpoint) {
  grpc::ChannelArguments args;
  // A channel of its own per driver, so the bench does not share a connection with anything.
  args.SetInt("settle.bench.channel", 1);
  // As the coordinator's channels to participants: no transparent retries, on both sides.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // The bench calls as any Settle client does: with --tls_* when given (checked in main).
  static const auto* credentials = new std::shared_ptr<grpc::ChannelCredentials>(
      ChannelCredentials(TlsOptionsFromFlags().value_or(TlsOptions{})));
  return grpc::CreateCustomChannel(endpoint, *credentials, args);
}

// Execute at the shard that owns each key, as SettleClient routes (common/shard_map.h).
class SettleDriver final : public Driver {
 public:
  SettleDriver(ShardMap shards, const Workload& workload, std::string run_id)
      : shards_(std::move(shards)), workload_(workload), run_id_(std::move(run_id)) {
    for (const std::string& e : shards_.endpoints()) {
      stubs_.push_back(v1::Coordinator::NewStub(Channel(e)));
    }
  }

  void Run(uint64_t seq, std::function<void(std::string)> done) override {
    auto call = std::make_shared<UnaryCall<v1::ExecuteRequest, v1::ExecuteResponse>>();
    call->request.set_idempotency_key(absl::StrCat(run_id_, "-", seq));
    call->request.mutable_timeout()->set_seconds(10);
    call->request.set_mode(workload_.mode());
    for (auto& b : workload_.Branches(seq)) {
      auto* br = call->request.add_branches();
      br->set_participant(std::move(b.participant));
      br->set_payload(std::move(b.payload));
      br->set_step(b.step);
    }
    auto* async = stubs_[shards_.ShardOfKey(call->request.idempotency_key())]->async();
    StartUnaryCall<v1::ExecuteRequest, v1::ExecuteResponse>(
        [async](auto... args) { async->Execute(args...); }, Deadline(), std::move(call),
        [done = std::move(done)](const grpc::Status& s, const v1::ExecuteResponse& resp) {
          if (!s.ok()) return done(CodeName(s));
          done(resp.outcome() == v1::OUTCOME_COMMITTED ? "committed" : "aborted");
        });
  }

 private:
  const ShardMap shards_;
  std::vector<std::unique_ptr<v1::Coordinator::Stub>> stubs_;  // One per shard.
  const Workload& workload_;
  const std::string run_id_;
};

// One baseline transaction: fan-out state shared by its RPC callbacks.
struct FanOut {
  std::string txn_id;
  std::vector<v1::Participant::Stub*> stubs;
  std::vector<std::string> endpoints;
  std::vector<BranchSpec> branches;
  std::function<void(std::string)> done;
  std::atomic<int> pending{0};
  std::atomic<bool> all_yes{true};
  std::atomic<bool> failed{false};
  std::string error;  // The first RPC error: written once (by whoever set `failed`), read at 0.
  // Sagas: the step running, and which branches acted (each written by its own callback, read
  // once `pending` reaches 0).
  uint32_t step = 0;
  std::vector<char> acted;
};

class BaselineDriver final : public Driver {
 public:
  BaselineDriver(const std::map<std::string, std::string>& participants, const Workload& workload)
      : workload_(workload),
        endpoints_(participants),
        first_id_(static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()))) {
    for (const auto& [name, endpoint] : participants) {
      stubs_[name] = v1::Participant::NewStub(Channel(endpoint));
    }
  }

  void Run(uint64_t seq, std::function<void(std::string)> done) override {
    auto t = std::make_shared<FanOut>();
    // Ids in the coordinator's format (participants refuse others), apart from its shard's and
    // from every earlier run's.
    t->txn_id = storage::TxnIdFor("bench", first_id_ + seq);
    t->branches = workload_.Branches(seq);
    for (const auto& b : t->branches) {
      t->stubs.push_back(stubs_.at(b.participant).get());
      t->endpoints.push_back(endpoints_.at(b.participant));
    }
    t->done = std::move(done);
    if (workload_.saga()) {
      t->acted.assign(t->branches.size(), 0);
      return Act(t, 0);
    }
    t->pending = static_cast<int>(t->branches.size());
    const bool three_phase = workload_.mode() == v1::MODE_THREE_PHASE;
    for (size_t i = 0; i < t->branches.size(); ++i) Prepare(t, i, three_phase);
  }

 private:
  // A Prepare's or a saga step's request for branch `i`: its ids, participant, payload and a
  // deadline, which it returns.
  template <typename Request>
  static absl::Time FillBranch(const FanOut& t, size_t i, Request* request) {
    request->set_txn_id(t.txn_id);
    request->set_branch_id(static_cast<uint32_t>(i));
    request->set_participant(t.branches[i].participant);
    request->set_payload(t.branches[i].payload);
    const absl::Time deadline = Deadline();
    ToProtoTime(deadline, request->mutable_deadline());
    return deadline;
  }

  static void Prepare(const std::shared_ptr<FanOut>& t, size_t i, bool three_phase) {
    auto call = std::make_shared<UnaryCall<v1::PrepareRequest, v1::PrepareResponse>>();
    const absl::Time deadline = FillBranch(*t, i, &call->request);
    if (three_phase) {
      // As the coordinator sends it: the bound its timers use, and every other branch.
      v1::ThreePhase* three = call->request.mutable_three_phase();
      three->mutable_timeout()->set_seconds(5);
      for (size_t b = 0; b < t->branches.size(); ++b) {
        if (b == i) continue;
        v1::Peer* peer = three->add_peers();
        peer->set_branch_id(static_cast<uint32_t>(b));
        peer->set_endpoint(t->endpoints[b]);
      }
    }
    auto* async = t->stubs[i]->async();
    StartUnaryCall<v1::PrepareRequest, v1::PrepareResponse>(
        [async](auto... args) { async->Prepare(args...); }, deadline, std::move(call),
        [t, three_phase](const grpc::Status& s, const v1::PrepareResponse& resp) {
          if (!s.ok() || resp.vote() != v1::VOTE_YES) t->all_yes = false;
          if (t->pending.fetch_sub(1) != 1) return;
          if (three_phase && t->all_yes.load()) return PreCommit(t);
          Decide(t);
        });
  }

  // Three-phase commit's middle round, then the Commits.
  static void PreCommit(const std::shared_ptr<FanOut>& t) {
    t->pending = static_cast<int>(t->branches.size());
    for (size_t i = 0; i < t->branches.size(); ++i) {
      auto* async = t->stubs[i]->async();
      Deliver<v1::PreCommitRequest, v1::PreCommitResponse>(
          t, i, [async](auto... args) { async->PreCommit(args...); }, Decide);
    }
  }

  static void Decide(const std::shared_ptr<FanOut>& t) {
    const bool commit = t->all_yes.load();
    t->pending = static_cast<int>(t->branches.size());
    auto report = [commit](const std::shared_ptr<FanOut>& t) {
      t->done(commit ? "committed" : "aborted");
    };
    for (size_t i = 0; i < t->branches.size(); ++i) {
      auto* async = t->stubs[i]->async();
      if (commit) {
        Deliver<v1::CommitRequest, v1::CommitResponse>(
            t, i, [async](auto... args) { async->Commit(args...); }, report);
      } else {
        Deliver<v1::AbortRequest, v1::AbortResponse>(
            t, i, [async](auto... args) { async->Abort(args...); }, report);
      }
    }
  }

  // Commit, Abort or PreCommit of branch `i`; the last one to end runs `next`, or reports the
  // first error.
  template <typename Req, typename Resp, typename Start>
  static void Deliver(const std::shared_ptr<FanOut>& t, size_t i, Start start,
                      std::function<void(const std::shared_ptr<FanOut>&)> next) {
    auto call = std::make_shared<UnaryCall<Req, Resp>>();
    call->request.set_txn_id(t->txn_id);
    call->request.set_branch_id(static_cast<uint32_t>(i));
    StartUnaryCall<Req, Resp>(start, Deadline(), std::move(call),
                              [t, next = std::move(next)](const grpc::Status& s, const Resp&) {
                                if (!s.ok() && !t->failed.exchange(true)) t->error = CodeName(s);
                                if (t->pending.fetch_sub(1) != 1) return;
                                if (!t->error.empty()) return t->done(t->error);
                                next(t);
                              });
  }

  // A saga, as the coordinator runs one: each step's branches act together, step after step;
  // after a refusal the branches that acted are compensated, last step first.
  static void Act(const std::shared_ptr<FanOut>& t, uint32_t step) {
    std::vector<size_t> branches = OfStep(*t, step);
    if (branches.empty()) return t->done("committed");
    t->step = step;
    t->pending = static_cast<int>(branches.size());
    for (size_t i : branches) {
      Step(t, i, /*compensate=*/false, [i](const std::shared_ptr<FanOut>& t, bool done) {
        t->acted[i] = done;
        if (!done) t->all_yes = false;
        if (t->pending.fetch_sub(1) != 1) return;
        if (t->all_yes.load()) return Act(t, t->step + 1);
        Compensate(t, t->step);
      });
    }
  }

  static void Compensate(const std::shared_ptr<FanOut>& t, int64_t step) {
    for (; step >= 0; --step) {
      std::vector<size_t> acted;
      for (size_t i : OfStep(*t, static_cast<uint32_t>(step))) {
        if (t->acted[i]) acted.push_back(i);
      }
      if (acted.empty()) continue;
      t->pending = static_cast<int>(acted.size());
      for (size_t i : acted) {
        Step(t, i, /*compensate=*/true, [step](const std::shared_ptr<FanOut>& t, bool) {
          if (t->pending.fetch_sub(1) == 1) Compensate(t, step - 1);
        });
      }
      return;
    }
    t->done(t->error.empty() ? "aborted" : t->error);
  }

  static std::vector<size_t> OfStep(const FanOut& t, uint32_t step) {
    std::vector<size_t> out;
    for (size_t i = 0; i < t.branches.size(); ++i) {
      if (t.branches[i].step == step) out.push_back(i);
    }
    return out;
  }

  // Act or Compensate of branch `i`; `answered` gets whether it took effect (an error counts as
  // not: the bench measures, it does not retry).
  static void Step(const std::shared_ptr<FanOut>& t, size_t i, bool compensate,
                   std::function<void(const std::shared_ptr<FanOut>&, bool)> answered) {
    auto call = std::make_shared<UnaryCall<v1::StepRequest, v1::StepResponse>>();
    const absl::Time deadline = FillBranch(*t, i, &call->request);
    auto* async = t->stubs[i]->async();
    auto on_done = [t, answered = std::move(answered)](const grpc::Status& s,
                                                        const v1::StepResponse& resp) {
      if (!s.ok() && !t->failed.exchange(true)) t->error = CodeName(s);
      answered(t, s.ok() && resp.outcome() == v1::STEP_DONE);
    };
    if (compensate) {
      StartUnaryCall<v1::StepRequest, v1::StepResponse>(
          [async](auto... args) { async->Compensate(args...); }, deadline, std::move(call),
          std::move(on_done));
    } else {
      StartUnaryCall<v1::StepRequest, v1::StepResponse>(
          [async](auto... args) { async->Act(args...); }, deadline, std::move(call),
          std::move(on_done));
    }
  }

  std::map<std::string, std::unique_ptr<v1::Participant::Stub>> stubs_;
  const Workload& workload_;
  const std::map<std::string, std::string> endpoints_;
  const uint64_t first_id_;  // The id counter of this driver's first transaction.
};

}  // namespace

Workload::Workload(int branches, int accounts, size_t payload_bytes, double abort_ratio,
                   v1::Mode mode)
    : branches_(branches),
      accounts_(accounts),
      payload_bytes_(payload_bytes),
      abort_ratio_(abort_ratio),
      mode_(mode) {}

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
  if (saga()) {
    const v1::ExecuteRequest card =
        client::MakeCardPayment("", "4111-1111-1111-1111", to, 1 + static_cast<int64_t>(seq % 100));
    std::vector<BranchSpec> out;
    for (const auto& b : card.branches()) out.push_back({b.participant(), b.payload(), b.step()});
    if (abort) {
      v1::NotificationPayload refused;  // No recipient: the last step is refused.
      refused.set_topic("payment.settled");
      out.back().payload = refused.SerializeAsString();
    }
    return out;
  }
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

absl::StatusOr<std::unique_ptr<Driver>> MakeSettleDriver(const std::string& coordinator,
                                                         const Workload& workload,
                                                         const std::string& run_id) {
  absl::StatusOr<ShardMap> shards = ShardMap::Parse(coordinator);
  if (!shards.ok()) return shards.status();
  return std::make_unique<SettleDriver>(*std::move(shards), workload, run_id);
}

std::unique_ptr<Driver> MakeBaselineDriver(const std::map<std::string, std::string>& participants,
                                           const Workload& workload) {
  return std::make_unique<BaselineDriver>(participants, workload);
}

}  // namespace settle::bench
