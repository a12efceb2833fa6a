#include "server/engine/executor.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/json_log.h"
#include "server/engine/modes.h"

namespace settle::engine {

Executor::Executor(ExecutorOptions options, storage::DecisionLog& log, Registry& registry,
                   Scheduler& scheduler, const Clock& clock, Metrics* metrics, ActiveSet& active)
    : options_(std::move(options)),
      log_(log),
      registry_(registry),
      scheduler_(scheduler),
      clock_(clock),
      metrics_(metrics),
      active_(active),
      retry_(options_.retry) {}

void Executor::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_.store(true, std::memory_order_release);
  mu_.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &rpcs_in_flight_));
}

bool Executor::RpcStarted(const std::string& participant) {
  absl::MutexLock lock(&mu_);
  // Checked under the lock Stop() sets it under: no call starts once Stop() has waited.
  if (stopping_.load(std::memory_order_relaxed)) return false;
  int& calls = calls_in_flight_[participant];
  if (calls >= options_.max_calls_per_participant) return false;
  ++calls;
  ++rpcs_in_flight_;
  return true;
}

void Executor::RpcEnded(const std::string& participant) {
  absl::MutexLock lock(&mu_);
  if (--calls_in_flight_[participant] == 0) calls_in_flight_.erase(participant);
  --rpcs_in_flight_;
}

int Executor::CallsInFlight(const std::string& participant) const {
  absl::MutexLock lock(&mu_);
  auto it = calls_in_flight_.find(participant);
  return it == calls_in_flight_.end() ? 0 : it->second;
}

absl::Status Executor::CheckCallRoom(const std::string& participant) const {
  absl::MutexLock lock(&mu_);
  auto it = calls_in_flight_.find(participant);
  if (it == calls_in_flight_.end() || it->second < options_.max_calls_per_participant) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "participant '", participant, "' has ", it->second,
      " calls in flight (--max_calls_per_participant); retry with backoff"));
}


void Executor::Drive(const TxnPtr& txn, const std::function<Actions(Protocol&)>& event) {
  if (stopping()) return;
  Run(txn, txn->Apply(event));
}

void Executor::Run(const TxnPtr& txn, Step step) {
  Actions& a = step.actions;
  if (a.fail_callers.has_value()) {
    Log(LogLevel::kError, "a record could not be written; the callers are told",
        {{"txn", txn->id()}, {"error", a.fail_callers->ToString()}});
    for (auto& w : step.to_fail) w(*a.fail_callers);
  }
  if (a.decided) {
    if (metrics_ != nullptr) metrics_->Decided(txn->mode(), step.result.committed);
    Log(LogLevel::kDebug, "decided",
        {{"txn", txn->id()}, {"decision", step.result.committed ? "commit" : "abort"}});
  }
  // No longer counted against --max_in_flight once decided, or gone undecided (a saga whose
  // begin record could not be written).
  if ((a.decided || a.finished) && txn->MarkNoLongerDeciding()) active_.Decided();
  if (a.finished) active_.Remove(txn);
  if (a.decided || a.finished) {
    for (auto& w : step.to_answer) w(step.result);
  }
  if (a.write.has_value()) Write(txn, *std::move(a.write));
  for (const SendAction& send : a.sends) Send(txn, send);
}

void Executor::Write(const TxnPtr& txn, WriteAction w) {
  if (w.after_pause) {
    w.after_pause = false;
    scheduler_.RunAfter(retry_.options().max, [this, txn, w = std::move(w)]() mutable {
      if (!stopping()) Write(txn, std::move(w));
    });
    return;
  }
  const absl::Time now = clock_.Now();
  storage::LogBatch batch;
  switch (w.kind) {
    case RecordKind::kBegin:
      batch.Begin(w.record);
      break;
    case RecordKind::kDecision:
      if (metrics_ != nullptr) metrics_->Phase("prepare", now - txn->begin_time());
      batch.Decide(w.record);
      break;
    case RecordKind::kPreCommit:
      batch.Decide(w.record);
      break;
    case RecordKind::kUpdate:
      batch.UpdateActive(w.record);
      break;
    case RecordKind::kFinish:
      if (txn->payloads_shed()) {
        // The finished record keeps the payloads (a replayed key is compared against them); a
        // transaction that waited for a participant takes them back from its logged decision.
        auto logged = log_.Find(txn->id());
        if (!logged.ok()) {
          w.after_pause = true;
          return Write(txn, std::move(w));
        }
        if (logged->has_value() && (*logged)->branches_size() == w.record.branches_size()) {
          for (int i = 0; i < w.record.branches_size(); ++i) {
            w.record.mutable_branches(i)->set_payload((*logged)->branches(i).payload());
          }
        }
      }
      if (metrics_ != nullptr && w.record.finish_micros() == absl::ToUnixMicros(now)) {
        metrics_->Phase(w.record.state() == storage::TXN_COMMITTED ? "commit" : "abort",
                        now - absl::FromUnixMicros(w.record.decision_micros()));
      }
      batch.Finish(w.record);
      break;
  }
  const RecordKind kind = w.kind;
  const storage::TxnStateRecord state = w.record.state();
  log_.Write(std::move(batch), w.forced, [this, txn, kind, state](absl::Status s) {
    OnWritten(txn, kind, state, std::move(s));
  });
}

void Executor::OnWritten(const TxnPtr& txn, RecordKind kind, storage::TxnStateRecord state,
                            absl::Status status) {
  if (stopping()) return;
  if (status.ok() && options_.at_point_ForTest) {
    options_.at_point_ForTest(txn->id(), absl::StrCat("logged:", TxnStateName(state)));
  }
  if (kind == RecordKind::kBegin && !status.ok()) {
    Log(LogLevel::kWarning, "begin record not written; the decision record will carry it",
        {{"txn", txn->id()}, {"error", status.ToString()}});
  }
  Drive(txn, [&](Protocol& p) { return p.OnWritten(kind, status, clock_.Now()); });
}

void Executor::Send(const TxnPtr& txn, SendAction send) {
  if (!send.retry) return Call(txn, send.branch, send.phase);
  // A decided outcome is never given up. The capped, jittered delay keeps a participant that
  // stays down from being flooded; the scheduler holds no thread. While it waits, the
  // transaction keeps only what its calls need.
  const absl::Duration delay =
      retry_.Delay(std::max<int>(1, static_cast<int>(txn->DeliveryAttempts(send.branch))));
  txn->SetNextRetry(send.branch, clock_.Now() + delay);
  txn->ShedPayloadsIfUnneeded();
  scheduler_.RunAfter(delay, [this, txn, send] { Call(txn, send.branch, send.phase); });
}

void Executor::Call(const TxnPtr& txn, uint32_t branch, Phase phase) {
  if (stopping()) return;
  const absl::Time sent = clock_.Now();
  const std::string& participant = txn->participant(branch);
  if (phase != Phase::kPrepare && !registry_.Allow(participant, sent)) {
    // Its circuit is open: wait for a probe to get through instead of adding a call.
    return OnAnswer(txn, branch, phase, sent,
                    Answer::NoAnswer(absl::UnavailableError(absl::StrCat(
                        "participant '", participant, "' is unreachable (circuit open)"))));
  }
  auto channel = registry_.Channel(participant);
  if (!channel.ok()) return OnAnswer(txn, branch, phase, sent, Answer::NoAnswer(channel.status()));
  if (options_.at_point_ForTest) {
    options_.at_point_ForTest(txn->id(), absl::StrCat("send:", PhaseName(phase), ":", branch));
  }
  if (!RpcStarted(participant)) {
    // Never an unbounded queue at a participant: the call is not made. A Prepare counts as
    // unanswered (the transaction aborts); a decided outcome's call is repeated with backoff.
    return OnAnswer(txn, branch, phase, sent, Answer::NoAnswer(CheckCallRoom(participant)),
                    /*reached=*/false);
  }
  if (phase == Phase::kPrepare) {
    PrepareCall call = txn->PrepareCallFor(branch);
    if (RulesFor(txn->mode()).branches_call_each_other) {
      // The termination protocol reaches the other branches without the coordinator.
      for (uint32_t b = 0; b < txn->branch_count(); ++b) {
        if (b != branch) call.peers.push_back({b, registry_.Endpoint(txn->participant(b))});
      }
    }
    (*channel)->Prepare(call,
                        [this, txn, branch, sent](absl::StatusOr<VoteResult> vote) {
                          Answer a;
                          if (vote.ok()) {
                            a.yes = vote->yes;
                            a.reason = std::move(vote->reason);
                          } else {
                            a.status = vote.status();
                          }
                          OnAnswer(txn, branch, Phase::kPrepare, sent, std::move(a));
                          RpcEnded(txn->participant(branch));
                        });
    return;
  }
  if (phase == Phase::kAct || phase == Phase::kCompensate) {
    auto done = [this, txn, branch, phase, sent](absl::StatusOr<StepResult> r) {
      Answer a;
      if (r.ok()) {
        a.yes = r->kind != StepResult::Kind::kRefused;
        a.in_progress = r->kind == StepResult::Kind::kInProgress;
        a.reason = std::move(r->reason);
      } else {
        a.status = r.status();
      }
      OnAnswer(txn, branch, phase, sent, std::move(a));
      RpcEnded(txn->participant(branch));
    };
    PrepareCall call = txn->PrepareCallFor(branch);
    call.deadline = sent + options_.delivery_rpc_timeout;
    if (phase == Phase::kAct) {
      (*channel)->Act(call, std::move(done));
    } else {
      (*channel)->Compensate(call, std::move(done));
    }
    return;
  }
  const BranchRef ref{txn->id(), branch};
  const absl::Time deadline = sent + options_.delivery_rpc_timeout;
  auto done = [this, txn, branch, phase, sent](absl::Status s) {
    OnAnswer(txn, branch, phase, sent, Answer::NoAnswer(std::move(s)));
    RpcEnded(txn->participant(branch));
  };
  if (phase == Phase::kCommit) {
    (*channel)->Commit(ref, deadline, std::move(done));
  } else if (phase == Phase::kPreCommit) {
    (*channel)->PreCommit(ref, deadline, std::move(done));
  } else {
    (*channel)->Abort(ref, deadline, std::move(done));
  }
}

void Executor::OnAnswer(const TxnPtr& txn, uint32_t branch, Phase phase, absl::Time sent,
                           Answer answer, bool reached) {
  const absl::Time now = clock_.Now();
  const std::string& participant = txn->participant(branch);
  const char* const method = PhaseName(phase);
  if (reached) {
    if (metrics_ != nullptr) {
      metrics_->ParticipantRpc(participant, method, answer.status.code(), now - sent);
    }
    if (answer.status.ok()) {
      registry_.RecordSuccess(participant, now);
    } else {
      registry_.RecordFailure(participant, answer.status, now);
    }
  }
  if (stopping()) return;
  if (phase != Phase::kPrepare) {
    if (answer.status.ok() && !answer.in_progress) {
      txn->RecordAnswered(branch);
    } else {
      const int attempt = txn->RecordDeliveryFailure(
          branch, answer.status.ok() ? absl::UnavailableError("in progress") : answer.status);
      if (metrics_ != nullptr) metrics_->DecisionRetry(participant, method);
      if (attempt == 1 || attempt % 20 == 0) {
        Log(LogLevel::kWarning, "call not answered; asking again",
            {{"txn", txn->id()},
             {"participant", participant},
             {"method", method},
             {"attempt", absl::StrCat(attempt)},
             {"error", answer.status.ToString()}});
      }
    }
  }
  Drive(txn, [&](Protocol& p) { return p.OnAnswer(branch, phase, answer, now); });
}

}  // namespace settle::engine
