#include "client/participant_server.h"

#include "client/barrier.h"
#include "client/saga_steps.h"
#include "client/three_phase.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/echo.h"
#include "common/json_log.h"
#include "grpcpp/create_channel.h"
#include "proto/status_mapping.h"
#include "storage/records.pb.h"
#include "storage/txn_id.h"

namespace settle::sdk {
namespace {

using storage::BarrierRecord;
using storage::Space;
using storage::WorkView;
using internal::CheckBranch;
using internal::CheckParticipant;
using internal::ReadBarrierFor;
using internal::WriteTombstone;
using internal::ReadBarrier;
using internal::StagingView;
using internal::UnitResult;
using internal::WriteBarrier;

// Index of prepared branches in the meta space, so the in-doubt resolver reads only those.
constexpr char kPreparedPrefix[] = "p/";
// The barrier sweep removes at most this many records per write; the next batch follows
// shortly after, so Prepares and Commits queued on the writer meanwhile are not held up.
constexpr int kSweepBatch = 1000;
constexpr absl::Duration kSweepBatchGap = absl::Milliseconds(5);

bool Finished(const BarrierRecord& rec) {
  return rec.state() == storage::BARRIER_COMMITTED || rec.state() == storage::BARRIER_ABORTED;
}

absl::Status CheckPrepare(const v1::PrepareRequest& req) {
  if (absl::Status s = CheckBranch(req.txn_id(), req.branch_id()); !s.ok()) return s;
  // Without a deadline a YES would hold the reservation for ever if the coordinator never
  // decided; a Prepare always carries its transaction's.
  if (!req.has_deadline()) return absl::InvalidArgumentError("deadline is required");
  const auto& d = req.deadline();
  if (d.nanos() < 0 || d.nanos() > 999999999 || d.seconds() < 0 ||
      d.seconds() > 253402300799LL) {
    return absl::InvalidArgumentError(
        absl::StrCat("deadline is not a valid Timestamp (seconds ", d.seconds(), ", nanos ",
                     d.nanos(), ")"));
  }
  if (req.has_three_phase()) return internal::CheckThreePhase(req.three_phase(), req.branch_id());
  return absl::OkStatus();
}

// The units of work. Each runs on the store's writer thread; returns true to keep its writes.
bool PrepareWork(BranchHandler& handler, const v1::PrepareRequest& req, WorkView& view,
                 UnitResult& out) {
  const std::string key = BarrierKey(req.txn_id(), req.branch_id());
  std::optional<BarrierRecord> barrier;
  if (!ReadBarrierFor(view, key, &barrier, out)) return false;
  if (barrier.has_value()) {
    // A duplicate or late Prepare gets the answer the first one got; nothing changes.
    switch (barrier->state()) {
      case storage::BARRIER_PREPARED:
      case storage::BARRIER_COMMITTED:
        out.vote = Vote::Yes();
        break;
      default:
        out.vote = Vote::No(barrier->tombstone()
                                ? "the branch was aborted before this Prepare arrived"
                                : "the branch was already refused or aborted");
    }
    return false;
  }
  const absl::Time now = absl::Now();
  const absl::Time deadline =
      absl::FromUnixSeconds(req.deadline().seconds()) + absl::Nanoseconds(req.deadline().nanos());
  if (req.has_deadline() && now > deadline) {
    out.vote = Vote::No("the Prepare arrived after the transaction's deadline");
    return false;
  }
  StagingView staging(view);
  out.vote = handler.Prepare({req.txn_id(), req.branch_id()}, req.payload(), staging);
  out.effect = out.vote.yes ? "prepared" : "refused";
  BarrierRecord rec;
  if (out.vote.yes) {
    staging.Apply();
    rec.set_state(storage::BARRIER_PREPARED);
    rec.set_payload(req.payload());
    rec.set_prepared_micros(absl::ToUnixMicros(now));
    if (req.has_three_phase()) {
      // Its own timers resolve it (three_phase.h), not the coordinator's GetDecision.
      internal::ArmPrepared(req.three_phase(), rec, view, key, now);
    } else {
      view.Put(Space::kMeta, kPreparedPrefix + key, absl::StrCat(rec.prepared_micros()));
    }
  } else {
    // Recorded so a duplicate Prepare repeats the NO instead of reserving anew: the
    // coordinator sends no Abort to a branch that voted NO.
    rec.set_state(storage::BARRIER_ABORTED);
  }
  WriteBarrier(view, key, std::move(rec), now);
  return true;
}

bool DecideWork(BranchHandler& handler, const std::string& txn_id, uint32_t branch_id,
                bool commit, WorkView& view, UnitResult& out) {
  const std::string key = BarrierKey(txn_id, branch_id);
  std::optional<BarrierRecord> barrier;
  if (!ReadBarrierFor(view, key, &barrier, out)) return false;
  const BranchContext ctx{txn_id, branch_id};
  if (!barrier.has_value()) {
    if (commit) {
      out.error = absl::FailedPreconditionError(absl::StrCat(
          "branch ", key, " was never prepared here; a Commit for it breaks the protocol"));
      return false;
    }
    WriteTombstone(view, key, out);  // Abort before Prepare: a late Prepare votes NO.
    return true;
  }
  BarrierRecord rec = std::move(*barrier);
  const auto done_state = commit ? storage::BARRIER_COMMITTED : storage::BARRIER_ABORTED;
  if (rec.state() == done_state) return false;  // Duplicate: one effect only.
  if (rec.state() != storage::BARRIER_PREPARED && rec.state() != storage::BARRIER_PRECOMMITTED) {
    out.error = absl::FailedPreconditionError(
        absl::StrCat("branch ", key, " is already ",
                     rec.state() == storage::BARRIER_COMMITTED ? "committed" : "aborted",
                     "; it cannot be ", commit ? "committed" : "aborted"));
    return false;
  }
  absl::Status s = commit ? handler.Commit(ctx, rec.payload(), view)
                          : handler.Abort(ctx, rec.payload(), view);
  if (!s.ok()) {
    out.error = s;
    return false;
  }
  rec.set_state(done_state);
  rec.clear_payload();
  out.effect = commit ? "committed" : "aborted";
  view.Delete(Space::kMeta,
              (rec.three_phase_timeout_micros() > 0 ? internal::kTimerPrefix : kPreparedPrefix) +
                  key);
  WriteBarrier(view, key, std::move(rec), absl::Now());
  return true;
}

// Submits one unit and finishes `reactor` when it is durable.
template <typename Fill>
void RunUnit(storage::BranchStore& store, ParticipantMetrics* metrics,
             grpc::ServerUnaryReactor* reactor, std::function<bool(WorkView&, UnitResult&)> work,
             Fill fill) {
  auto result = std::make_shared<UnitResult>();
  store.Submit([work = std::move(work), result](WorkView& v) { return work(v, *result); },
               [reactor, result, metrics, fill = std::move(fill)](absl::Status s) {
                 // A failed group write voids every answer in it, even one that wrote nothing:
                 // it may have read state staged by another unit of the group.
                 if (s.ok()) s = result->error;
                 if (s.ok()) {
                   fill(*result);
                   if (metrics != nullptr) metrics->Branch(result->effect);
                 }
                 reactor->Finish(ToGrpcStatus(s));
               });
}

}  // namespace

std::string BarrierKey(const std::string& txn_id, uint32_t branch_id) {
  return absl::StrFormat("%s/%05u", txn_id, branch_id);
}

class ParticipantServer::ParticipantImpl final : public v1::Participant::CallbackService {
 public:
  ParticipantImpl(storage::BranchStore& store, BranchHandler& handler,
                  ParticipantMetrics* metrics, SagaHandler* saga, std::string name)
      : store_(store),
        handler_(handler),
        metrics_(metrics),
        saga_(saga),
        name_(std::move(name)) {}

  grpc::ServerUnaryReactor* Prepare(grpc::CallbackServerContext* context,
                                    const v1::PrepareRequest* request,
                                    v1::PrepareResponse* response) override {
    auto* reactor = context->DefaultReactor();
    absl::Status checked = CheckPrepare(*request);
    if (checked.ok()) checked = CheckParticipant(name_, request->participant());
    if (absl::Status s = checked; !s.ok()) {
      reactor->Finish(ToGrpcStatus(s));
      return reactor;
    }
    RunUnit(
        store_, metrics_, reactor,
        [this, request](WorkView& v, UnitResult& r) {
          return PrepareWork(handler_, *request, v, r);
        },
        [response](const UnitResult& r) {
          response->set_vote(r.vote.yes ? v1::VOTE_YES : v1::VOTE_NO);
          response->set_reason(r.vote.reason);
        });
    return reactor;
  }

  grpc::ServerUnaryReactor* Commit(grpc::CallbackServerContext* context,
                                   const v1::CommitRequest* request,
                                   v1::CommitResponse*) override {
    return Decide(context, request->txn_id(), request->branch_id(), /*commit=*/true);
  }

  grpc::ServerUnaryReactor* Abort(grpc::CallbackServerContext* context,
                                  const v1::AbortRequest* request, v1::AbortResponse*) override {
    return Decide(context, request->txn_id(), request->branch_id(), /*commit=*/false);
  }

  grpc::ServerUnaryReactor* Act(grpc::CallbackServerContext* context,
                                const v1::StepRequest* request,
                                v1::StepResponse* response) override {
    return Step(context, request, response, internal::ActWork);
  }

  grpc::ServerUnaryReactor* Compensate(grpc::CallbackServerContext* context,
                                       const v1::StepRequest* request,
                                       v1::StepResponse* response) override {
    return Step(context, request, response, internal::CompensateWork);
  }

  grpc::ServerUnaryReactor* PreCommit(grpc::CallbackServerContext* context,
                                      const v1::PreCommitRequest* request,
                                      v1::PreCommitResponse*) override {
    auto* reactor = context->DefaultReactor();
    if (absl::Status s = CheckBranch(request->txn_id(), request->branch_id()); !s.ok()) {
      reactor->Finish(ToGrpcStatus(s));
      return reactor;
    }
    RunUnit(
        store_, metrics_, reactor,
        [request](WorkView& v, UnitResult& r) {
          return internal::PreCommitWork(request->txn_id(), request->branch_id(), v, r);
        },
        [](const UnitResult&) {});
    return reactor;
  }

  grpc::ServerUnaryReactor* GetBranchState(grpc::CallbackServerContext* context,
                                           const v1::BranchStateRequest* request,
                                           v1::BranchStateResponse* response) override {
    auto* reactor = context->DefaultReactor();
    absl::Status s = CheckBranch(request->txn_id(), request->branch_id());
    if (s.ok()) {
      // Committed state only: an answer must never be undone by a group write that fails.
      auto raw = store_.Get(Space::kBarrier, BarrierKey(request->txn_id(), request->branch_id()));
      BarrierRecord rec;
      if (!raw.ok()) {
        s = raw.status();
      } else if (raw->has_value() && !rec.ParseFromString(**raw)) {
        s = absl::DataLossError("the branch's barrier record is unreadable");
      } else {
        response->set_state(static_cast<v1::BarrierState>(rec.state()));
      }
    }
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }

 private:
  using StepWork = bool (*)(SagaHandler&, const std::string&, uint32_t, const std::string&,
                            WorkView&, UnitResult&);
  grpc::ServerUnaryReactor* Step(grpc::CallbackServerContext* context,
                                 const v1::StepRequest* request, v1::StepResponse* response,
                                 StepWork work) {
    auto* reactor = context->DefaultReactor();
    absl::Status s = saga_ == nullptr ? absl::UnimplementedError(
                                            "this participant runs no saga steps (MODE_SAGA)")
                                      : CheckBranch(request->txn_id(), request->branch_id());
    if (s.ok()) s = CheckParticipant(name_, request->participant());
    if (!s.ok()) {
      reactor->Finish(ToGrpcStatus(s));
      return reactor;
    }
    RunUnit(
        store_, metrics_, reactor,
        [this, request, work](WorkView& v, UnitResult& r) {
          return work(*saga_, request->txn_id(), request->branch_id(), request->payload(), v, r);
        },
        [response](const UnitResult& r) { internal::ToStepResponse(r.step, response); });
    return reactor;
  }

  grpc::ServerUnaryReactor* Decide(grpc::CallbackServerContext* context, std::string txn_id,
                                   uint32_t branch_id, bool commit) {
    auto* reactor = context->DefaultReactor();
    if (absl::Status s = CheckBranch(txn_id, branch_id); !s.ok()) {
      reactor->Finish(ToGrpcStatus(s));
      return reactor;
    }
    RunUnit(
        store_, metrics_, reactor,
        [this, txn_id = std::move(txn_id), branch_id, commit](WorkView& v, UnitResult& r) {
          return DecideWork(handler_, txn_id, branch_id, commit, v, r);
        },
        [](const UnitResult&) {});
    return reactor;
  }

  storage::BranchStore& store_;
  BranchHandler& handler_;
  ParticipantMetrics* const metrics_;
  SagaHandler* const saga_;  // May be null.
  const std::string name_;    // Empty: not checked.
};

ParticipantServer::ParticipantServer(ParticipantOptions options, storage::BranchStore& store,
                                     BranchHandler& handler)
    : options_(std::move(options)),
      store_(store),
      handler_(handler),
      participant_impl_(std::make_unique<ParticipantImpl>(store, handler, options_.metrics,
                                                          options_.saga, options_.name)),
      inspect_impl_(internal::MakeInspectService(store)),
      timers_(std::make_unique<internal::ThreePhaseTimers>(
          store, [this](const std::string& txn_id, uint32_t branch, bool commit) {
            UnitResult result;
            absl::Status w = store_.SubmitAndWait([&](WorkView& v) {
              return DecideWork(handler_, txn_id, branch, commit, v, result);
            });
            if (w.ok()) w = result.error;
            if (w.ok() && options_.metrics != nullptr) options_.metrics->Branch(result.effect);
            return w;
          })) {
  if (!options_.coordinator_endpoint.empty()) {
    decisions_ = v1::DecisionService::NewStub(
        grpc::CreateChannel(options_.coordinator_endpoint, grpc::InsecureChannelCredentials()));
  }
}

ParticipantServer::~ParticipantServer() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (background_.joinable()) background_.join();
}

grpc::Service* ParticipantServer::participant_service() { return participant_impl_.get(); }
grpc::Service* ParticipantServer::inspect_service() { return inspect_impl_.get(); }

void ParticipantServer::StartBackgroundWork() {
  background_ = std::thread([this] { BackgroundLoop(); });
}

int ParticipantServer::TerminateDueOnce(absl::Time now) { return timers_->RunDue(now); }

void ParticipantServer::BackgroundLoop() {
  absl::Time next_resolve = absl::Now() + options_.in_doubt_check_interval;
  absl::Time next_sweep = absl::Now() + options_.barrier_sweep_interval;
  absl::Time next_timers = absl::Now() + options_.three_phase_check_interval;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      absl::Time wake = std::min(next_sweep, next_timers);
      if (decisions_ != nullptr) wake = std::min(wake, next_resolve);
      mu_.AwaitWithDeadline(absl::Condition(&stop_), wake);
      if (stop_) return;
    }
    if (absl::Now() >= next_timers) {
      TerminateDueOnce(absl::Now());
      next_timers = absl::Now() + options_.three_phase_check_interval;
    }
    if (decisions_ != nullptr && absl::Now() >= next_resolve) {
      ResolveInDoubtOnce();
      next_resolve = absl::Now() + options_.in_doubt_check_interval;
    }
    if (absl::Now() >= next_sweep) {
      auto removed = SweepBarriersOnce(absl::Now(), kSweepBatch);
      if (!removed.ok()) {
        Log(LogLevel::kWarning, "barrier sweep failed", {{"error", removed.status().ToString()}});
      }
      // A full batch means more are due: the next follows after a short gap.
      const bool more = removed.ok() && *removed == kSweepBatch;
      next_sweep = absl::Now() + (more ? kSweepBatchGap : options_.barrier_sweep_interval);
    }
  }
}

absl::StatusOr<int> ParticipantServer::SweepBarriersOnce(absl::Time now, int max) {
  const int64_t cutoff = absl::ToUnixMicros(now - options_.barrier_retention);
  std::vector<std::string> due;
  std::string from;
  for (bool next_shard = true; next_shard && static_cast<int>(due.size()) < max;) {
    next_shard = false;
    absl::Status bad;
    absl::Status s = store_.Scan(
        Space::kBarrier, "", from, [&](const std::string& key, const std::string& value) {
          const auto id = storage::ParseTxnId(absl::string_view(key).substr(0, key.rfind('/')));
          if (id.has_value() && id->counter >= static_cast<uint64_t>(cutoff)) {
            // Ids grow with begin time, so the rest of this shard began after the cutoff and
            // none of it can be due: go on past the shard's last possible key ('0' > '/').
            from = storage::TxnIdFor(id->shard, UINT64_MAX) + "0";
            next_shard = true;
            return false;
          }
          BarrierRecord rec;
          if (!rec.ParseFromString(value)) {
            bad = absl::DataLossError(absl::StrCat("barrier record ", key, " is unreadable"));
            return false;
          }
          if (Finished(rec) && rec.update_micros() < cutoff) due.push_back(key);
          return static_cast<int>(due.size()) < max;
        });
    if (!s.ok()) return s;
    if (!bad.ok()) return bad;
  }
  if (due.empty()) return 0;
  int removed = 0;
  absl::Status w = store_.SubmitAndWait([&](WorkView& view) {
    // Checked again on the writer: only what is still finished and old goes.
    removed = 0;
    for (const std::string& key : due) {
      auto rec = ReadBarrier(view, key);
      if (!rec.ok() || !rec->has_value() || !Finished(**rec) || (*rec)->update_micros() >= cutoff) {
        continue;
      }
      view.Delete(Space::kBarrier, key);
      ++removed;
    }
    return removed > 0;
  });
  if (!w.ok()) return w;
  if (options_.metrics != nullptr && removed > 0) options_.metrics->BarriersRemoved(removed);
  return removed;
}

int ParticipantServer::ResolveInDoubtOnce() {
  if (decisions_ == nullptr) return 0;
  const int64_t cutoff = absl::ToUnixMicros(absl::Now() - options_.in_doubt_after);
  std::vector<std::string> in_doubt;
  int prepared_total = 0;
  absl::Status s = store_.Scan(
      Space::kMeta, kPreparedPrefix, "", [&](const std::string& key, const std::string& value) {
        ++prepared_total;
        int64_t prepared = 0;
        if (absl::SimpleAtoi(value, &prepared) && prepared < cutoff && in_doubt.size() < 1000) {
          in_doubt.push_back(key.substr(sizeof(kPreparedPrefix) - 1));
        }
        return true;
      });
  if (options_.metrics != nullptr) options_.metrics->SetPrepared(prepared_total);
  if (!s.ok()) {
    Log(LogLevel::kWarning, "cannot scan prepared branches", {{"error", s.ToString()}});
    return 0;
  }
  int resolved = 0;
  for (const std::string& key : in_doubt) {
    std::string txn_id;
    uint32_t branch = 0;
    if (!internal::ParseBarrierKey(key, &txn_id, &branch)) continue;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::GetDecisionRequest req;
    req.set_txn_id(txn_id);
    v1::GetDecisionResponse resp;
    grpc::Status st = decisions_->GetDecision(&ctx, req, &resp);
    if (options_.metrics != nullptr) {
      options_.metrics->DecisionQuery(!st.ok()                                      ? "error"
                                      : resp.decision() == v1::DECISION_COMMIT      ? "commit"
                                      : resp.decision() == v1::DECISION_UNDECIDED   ? "undecided"
                                                                                    : "abort");
    }
    if (!st.ok() || resp.decision() == v1::DECISION_UNDECIDED) continue;
    const bool commit = resp.decision() == v1::DECISION_COMMIT;
    UnitResult result;
    absl::Status w = store_.SubmitAndWait([&](WorkView& v) {
      return DecideWork(handler_, txn_id, branch, commit, v, result);
    });
    if (w.ok()) w = result.error;
    Log(w.ok() ? LogLevel::kInfo : LogLevel::kWarning, "in-doubt branch resolved",
        {{"txn", txn_id},
         {"branch", absl::StrCat(branch)},
         {"decision", commit ? "commit" : "abort"},
         {"error", w.ToString()}});
    if (w.ok()) ++resolved;
  }
  return resolved;
}

}  // namespace settle::sdk
