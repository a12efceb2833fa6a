#include "client/participant_service.h"

#include <atomic>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/saga_steps.h"
#include "client/three_phase.h"
#include "common/echo.h"
#include "proto/status_mapping.h"
#include "proto/time_convert.h"
#include "storage/records.pb.h"

namespace settle::sdk::internal {
namespace {

using storage::BarrierRecord;
using storage::Space;
using storage::WorkView;

absl::Status CheckPrepare(const v1::PrepareRequest& req) {
  if (absl::Status s = CheckBranch(req.txn_id(), req.branch_id()); !s.ok()) return s;
  // Without a deadline a YES would hold the reservation for ever if the coordinator never
  // decided; a Prepare always carries its transaction's.
  if (!req.has_deadline()) return absl::InvalidArgumentError("deadline is required");
  if (auto d = FromProtoTime(req.deadline(), "deadline"); !d.ok()) return d.status();
  if (req.has_three_phase()) return CheckThreePhase(req.three_phase(), req.branch_id());
  return absl::OkStatus();
}

// The units of work. Each runs on one of the store's threads at `now`; returns true to keep its
// writes.
bool PrepareWork(BranchHandler& handler, const v1::PrepareRequest& req, absl::Time now,
                 WorkView& view, UnitResult& out) {
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
        out.vote =
            Vote::No(barrier->tombstone() ? "the branch was aborted before this Prepare arrived"
                                          : "the branch was already refused or aborted");
    }
    return false;
  }
  // Checked valid by CheckPrepare.
  if (now > *FromProtoTime(req.deadline(), "deadline")) {
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
      ArmPrepared(req.three_phase(), rec, view, key, now);
    } else {
      view.Put(Space::kMeta, kPreparedPrefix + key, absl::StrCat(rec.prepared_micros()));
    }
  } else {
    staging.Discard();
    // Recorded so a duplicate Prepare repeats the NO instead of reserving anew: the
    // coordinator sends no Abort to a branch that voted NO.
    rec.set_state(storage::BARRIER_ABORTED);
  }
  WriteBarrier(view, key, std::move(rec), now);
  return true;
}

}  // namespace

bool DecideWork(BranchHandler& handler, const std::string& txn_id, uint32_t branch_id, bool commit,
                absl::Time now, WorkView& view, UnitResult& out) {
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
    WriteTombstone(view, key, now, out);  // Abort before Prepare: a late Prepare votes NO.
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
  absl::Status s =
      commit ? handler.Commit(ctx, rec.payload(), view) : handler.Abort(ctx, rec.payload(), view);
  if (!s.ok()) {
    out.error = s;
    return false;
  }
  rec.set_state(done_state);
  rec.clear_payload();
  out.effect = commit ? "committed" : "aborted";
  view.Delete(Space::kMeta,
              (rec.three_phase_timeout_micros() > 0 ? kTimerPrefix : kPreparedPrefix) + key);
  WriteBarrier(view, key, std::move(rec), now);
  return true;
}

ParticipantService::ParticipantService(storage::BranchStore& store, BranchHandler& handler,
                                       ParticipantMetrics* metrics, SagaHandler* saga,
                                       std::string name, Clock clock)
    : store_(store),
      handler_(handler),
      metrics_(metrics),
      saga_(saga),
      name_(std::move(name)),
      clock_(std::move(clock)) {}

void ParticipantService::RunUnit(std::function<bool(absl::Time, WorkView&, UnitResult&)> work,
                                 std::function<void(const UnitResult&)> fill, Finish finish) {
  auto result = std::make_shared<UnitResult>();
  store_.Submit(
      [work = std::move(work), result, this](WorkView& v) {
        *result = UnitResult();  // A SQL store may run the unit again: each run starts afresh.
        return work(clock_(), v, *result);
      },
      [result, metrics = metrics_, fill = std::move(fill),
       finish = std::move(finish)](absl::Status s) {
        // A failed group write voids every answer in it, even one that wrote nothing:
        // it may have read state staged by another unit of the group.
        if (s.ok()) s = result->error;
        if (s.ok()) {
          fill(*result);
          if (metrics != nullptr) metrics->Branch(result->effect);
        }
        finish(s);
      });
}

void ParticipantService::DoPrepare(const v1::PrepareRequest& request, v1::PrepareResponse* response,
                                   Finish finish) {
  absl::Status checked = CheckPrepare(request);
  if (checked.ok()) checked = CheckParticipant(name_, request.participant());
  if (!checked.ok()) return finish(checked);
  RunUnit([this, &request](absl::Time now, WorkView& v,
                           UnitResult& r) { return PrepareWork(handler_, request, now, v, r); },
          [response](const UnitResult& r) {
            response->set_vote(r.vote.yes ? v1::VOTE_YES : v1::VOTE_NO);
            response->set_reason(r.vote.reason);
          },
          std::move(finish));
}

void ParticipantService::DoDecide(const std::string& txn_id, uint32_t branch_id, bool commit,
                                  Finish finish) {
  if (absl::Status s = CheckBranch(txn_id, branch_id); !s.ok()) return finish(s);
  RunUnit(
      [this, txn_id, branch_id, commit](absl::Time now, WorkView& v, UnitResult& r) {
        return DecideWork(handler_, txn_id, branch_id, commit, now, v, r);
      },
      [](const UnitResult&) {}, std::move(finish));
}

void ParticipantService::DoStep(const v1::StepRequest& request, v1::StepResponse* response,
                                bool compensate, Finish finish) {
  absl::Status s = saga_ == nullptr
                       ? absl::UnimplementedError("this participant runs no saga steps (MODE_SAGA)")
                       : CheckBranch(request.txn_id(), request.branch_id());
  if (s.ok()) s = CheckParticipant(name_, request.participant());
  if (!s.ok()) return finish(s);
  RunUnit(
      [this, &request, compensate](absl::Time now, WorkView& v, UnitResult& r) {
        return (compensate ? CompensateWork : ActWork)(
            *saga_, request.txn_id(), request.branch_id(), request.payload(), now, v, r);
      },
      [response](const UnitResult& r) { ToStepResponse(r.step, response); }, std::move(finish));
}

void ParticipantService::DoPreCommit(const v1::PreCommitRequest& request, Finish finish) {
  if (absl::Status s = CheckBranch(request.txn_id(), request.branch_id()); !s.ok()) {
    return finish(s);
  }
  RunUnit(
      [&request](absl::Time now, WorkView& v, UnitResult& r) {
        return PreCommitWork(request.txn_id(), request.branch_id(), now, v, r);
      },
      [](const UnitResult&) {}, std::move(finish));
}

void ParticipantService::DoGetBranchState(const v1::BranchStateRequest& request,
                                          v1::BranchStateResponse* response, Finish finish) {
  absl::Status s = CheckBranch(request.txn_id(), request.branch_id());
  if (s.ok()) {
    // Committed state only: an answer must never be undone by a group write that fails.
    auto raw = store_.Get(Space::kBarrier, BarrierKey(request.txn_id(), request.branch_id()));
    BarrierRecord rec;
    if (!raw.ok()) {
      s = raw.status();
    } else if (raw->has_value() && !rec.ParseFromString(**raw)) {
      s = absl::DataLossError("the branch's barrier record is unreadable");
    } else {
      response->set_state(static_cast<v1::BarrierState>(rec.state()));
    }
  }
  finish(s);
}

void ParticipantService::DoBatch(const v1::ParticipantBatch& batch,
                                 v1::ParticipantBatchReply* reply, Finish finish) {
  const int n = batch.calls_size();
  if (n > kMaxBatchCalls) {
    return finish(absl::InvalidArgumentError(
        absl::StrCat("calls holds ", n, " calls; a batch carries at most ", kMaxBatchCalls)));
  }
  if (metrics_ != nullptr) metrics_->Batch(n);
  // Sized before any call runs: each answer fills its own element, on whichever thread the
  // store finishes it, and the last one finishes the batch.
  for (int i = 0; i < n; ++i) reply->add_replies();
  auto left = std::make_shared<std::atomic<int>>(n + 1);
  auto answered = [left, finish = std::move(finish)] {
    if (left->fetch_sub(1, std::memory_order_acq_rel) == 1) finish(absl::OkStatus());
  };
  const absl::Time now = clock_();
  for (int i = 0; i < n; ++i) {
    const v1::ParticipantCall& call = batch.calls(i);
    v1::ParticipantReply* out = reply->mutable_replies(i);
    auto done = [out, answered](absl::Status s, std::string response) {
      out->set_code(static_cast<int>(s.code()));
      out->set_message(std::string(s.message()));
      out->set_response(std::move(response));
      answered();
    };
    if (call.has_deadline()) {
      auto deadline = FromProtoTime(call.deadline(), absl::StrCat("calls[", i, "].deadline"));
      if (!deadline.ok()) {
        done(deadline.status(), "");
        continue;
      }
      if (*deadline < now) {
        done(absl::DeadlineExceededError(
                 absl::StrCat("calls[", i, "] arrived after its deadline; it did not run")),
             "");
        continue;
      }
    }
    ServeCall(call.method(), call.request(), std::move(done));
  }
  answered();
}

namespace {

// Finishes a gRPC call with the status `finish` gets.
template <typename Run>
grpc::ServerUnaryReactor* OverGrpc(grpc::CallbackServerContext* context, Run run) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  run([reactor](absl::Status s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

// Parses `bytes` as Request, runs `call` with a Response both live until it finishes, and
// hands `done` the serialized response.
template <typename Request, typename Response, typename Call>
void OverBytes(const std::string& method, const std::string& bytes, ParticipantService::Done done,
               Call call) {
  auto request = std::make_shared<Request>();
  auto response = std::make_shared<Response>();
  if (!request->ParseFromString(bytes)) {
    return done(
        absl::InvalidArgumentError(absl::StrCat("request of ", method, " does not parse as ",
                                                Request::descriptor()->full_name())),
        "");
  }
  call(*request, response.get(), [request, response, done = std::move(done)](absl::Status s) {
    done(s, s.ok() ? response->SerializeAsString() : std::string());
  });
}

}  // namespace

grpc::ServerUnaryReactor* ParticipantService::Prepare(grpc::CallbackServerContext* context,
                                                      const v1::PrepareRequest* request,
                                                      v1::PrepareResponse* response) {
  return OverGrpc(context, [&](Finish f) { DoPrepare(*request, response, std::move(f)); });
}

grpc::ServerUnaryReactor* ParticipantService::Commit(grpc::CallbackServerContext* context,
                                                     const v1::CommitRequest* request,
                                                     v1::CommitResponse*) {
  return OverGrpc(context, [&](Finish f) {
    DoDecide(request->txn_id(), request->branch_id(), /*commit=*/true, std::move(f));
  });
}

grpc::ServerUnaryReactor* ParticipantService::Abort(grpc::CallbackServerContext* context,
                                                    const v1::AbortRequest* request,
                                                    v1::AbortResponse*) {
  return OverGrpc(context, [&](Finish f) {
    DoDecide(request->txn_id(), request->branch_id(), /*commit=*/false, std::move(f));
  });
}

grpc::ServerUnaryReactor* ParticipantService::Act(grpc::CallbackServerContext* context,
                                                  const v1::StepRequest* request,
                                                  v1::StepResponse* response) {
  return OverGrpc(context, [&](Finish f) { DoStep(*request, response, false, std::move(f)); });
}

grpc::ServerUnaryReactor* ParticipantService::Compensate(grpc::CallbackServerContext* context,
                                                         const v1::StepRequest* request,
                                                         v1::StepResponse* response) {
  return OverGrpc(context, [&](Finish f) { DoStep(*request, response, true, std::move(f)); });
}

grpc::ServerUnaryReactor* ParticipantService::PreCommit(grpc::CallbackServerContext* context,
                                                        const v1::PreCommitRequest* request,
                                                        v1::PreCommitResponse*) {
  return OverGrpc(context, [&](Finish f) { DoPreCommit(*request, std::move(f)); });
}

grpc::ServerUnaryReactor* ParticipantService::GetBranchState(grpc::CallbackServerContext* context,
                                                             const v1::BranchStateRequest* request,
                                                             v1::BranchStateResponse* response) {
  return OverGrpc(context, [&](Finish f) { DoGetBranchState(*request, response, std::move(f)); });
}

grpc::ServerUnaryReactor* ParticipantService::Batch(grpc::CallbackServerContext* context,
                                                    const v1::ParticipantBatch* request,
                                                    v1::ParticipantBatchReply* response) {
  return OverGrpc(context, [&](Finish f) { DoBatch(*request, response, std::move(f)); });
}

void ParticipantService::ServeCall(const std::string& method, const std::string& request,
                                   Done done) {
  if (method == "Prepare") {
    return OverBytes<v1::PrepareRequest, v1::PrepareResponse>(
        method, request, std::move(done),
        [this](const v1::PrepareRequest& r, v1::PrepareResponse* out, Finish f) {
          DoPrepare(r, out, std::move(f));
        });
  }
  if (method == "Commit" || method == "Abort") {
    const bool commit = method == "Commit";
    return OverBytes<v1::CommitRequest, v1::CommitResponse>(
        method, request, std::move(done),
        [this, commit](const v1::CommitRequest& r, v1::CommitResponse*, Finish f) {
          DoDecide(r.txn_id(), r.branch_id(), commit, std::move(f));
        });
  }
  if (method == "Act" || method == "Compensate") {
    const bool compensate = method == "Compensate";
    return OverBytes<v1::StepRequest, v1::StepResponse>(
        method, request, std::move(done),
        [this, compensate](const v1::StepRequest& r, v1::StepResponse* out, Finish f) {
          DoStep(r, out, compensate, std::move(f));
        });
  }
  if (method == "PreCommit") {
    return OverBytes<v1::PreCommitRequest, v1::PreCommitResponse>(
        method, request, std::move(done),
        [this](const v1::PreCommitRequest& r, v1::PreCommitResponse*, Finish f) {
          DoPreCommit(r, std::move(f));
        });
  }
  if (method == "GetBranchState") {
    return OverBytes<v1::BranchStateRequest, v1::BranchStateResponse>(
        method, request, std::move(done),
        [this](const v1::BranchStateRequest& r, v1::BranchStateResponse* out, Finish f) {
          DoGetBranchState(r, out, std::move(f));
        });
  }
  done(absl::InvalidArgumentError(
           absl::StrCat("method ", Echo(method), " is not one of the Participant service's")),
       "");
}

}  // namespace settle::sdk::internal
