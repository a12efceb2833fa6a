#include "server/engine/saga.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace settle::engine {

absl::Status Saga::CheckSteps(Mode, const std::vector<BranchSpec>& branches) {
  uint32_t last = 0;
  for (const BranchSpec& b : branches) last = std::max(last, b.step);
  // A gap would be a step with nothing to do.
  std::vector<bool> used(last + 1, false);
  for (const BranchSpec& b : branches) used[b.step] = true;
  for (uint32_t s = 0; s <= last; ++s) {
    if (!used[s]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "saga steps must run 0, 1, 2... without gaps; no branch has step ", s,
          " but one has step ", last));
    }
  }
  return absl::OkStatus();
}

Saga::Saga(storage::TxnRecord record, const ProtocolOptions& options)
    : Protocol(std::move(record), Mode::kSaga),
      options_(options),
      attempts_(record_.branches_size(), 0) {}

uint32_t Saga::last_step() const {
  uint32_t last = 0;
  for (const auto& b : record_.branches()) last = std::max(last, b.step());
  return last;
}

WriteAction Saga::RecordWrite(RecordKind kind, bool forced) const {
  return WriteAction{kind, record_, forced};
}

Actions Saga::Start(absl::Time /*now*/) {
  // Forced, and no action goes out before it is durable: an action takes effect at once, and
  // only a logged saga is found again, and undone, after a crash.
  Actions out;
  out.write = RecordWrite(RecordKind::kBegin, /*forced=*/true);
  return out;
}

std::vector<SendAction> Saga::StepActions() const {
  std::vector<SendAction> out;
  for (int i = 0; i < record_.branches_size(); ++i) {
    const auto& b = record_.branches(i);
    if (b.step() == record_.saga_step() && b.state() != storage::BRANCH_COMMITTED) {
      out.push_back({static_cast<uint32_t>(i), Phase::kAct});
    }
  }
  return out;
}

bool Saga::StepDone() const { return StepActions().empty(); }

Actions Saga::Resume(absl::Time now) {
  Actions out;
  switch (record_.state()) {
    case storage::TXN_PREPARING:
      out.sends = StepActions();
      // Every action of the step done, but the next step's record (or the COMMITTED one) was
      // not written: go on from there.
      if (out.sends.empty()) return Advance(now);
      return out;
    case storage::TXN_COMPENSATING:
      out = ContinueCompensating(now);
      out.decided = true;
      return out;
    default:  // NEEDS_ATTENTION: parked; the outcome (ABORTED) was announced.
      out.decided = true;
      return out;
  }
}

Actions Saga::OnAnswer(uint32_t branch, Phase phase, const Answer& answer, absl::Time now) {
  SETTLE_CHECK_LT(branch, attempts_.size()) << "answer for unknown branch of "
                                            << record_.txn_id();
  return phase == Phase::kCompensate ? OnCompensation(branch, answer, now)
                                     : OnAction(branch, answer, now);
}

Actions Saga::OnAction(uint32_t branch, const Answer& answer, absl::Time now) {
  auto* b = record_.mutable_branches(static_cast<int>(branch));
  const bool done = answer.status.ok() && answer.yes && !answer.in_progress;
  if (compensating_ || record_.state() != storage::TXN_PREPARING || committing_) {
    // Late: the saga moved on. What it says still counts for which branches get compensated.
    if (done && b->state() == storage::BRANCH_PENDING) b->set_state(storage::BRANCH_COMMITTED);
    return {};
  }
  Actions out;
  const bool past_deadline = now >= absl::FromUnixMicros(record_.deadline_micros()) &&
                             record_.deadline_micros() != 0;
  if (!done && answer.status.ok() && answer.yes && past_deadline) {
    // Still in progress when the saga's timeout passed: the forward phase is over. It may yet
    // complete, so it is compensated with the others.
    b->set_state(storage::BRANCH_REFUSED);
    b->set_reason("still in progress when the saga's timeout passed");
    return StartCompensation(static_cast<int>(branch), b->reason(), now);
  }
  if (answer.status.ok() && answer.in_progress) {
    out.sends.push_back({branch, Phase::kAct, /*retry=*/true});
    return out;
  }
  if (!answer.status.ok()) {
    if (Retryable(answer.status) && !past_deadline &&
        ++attempts_[branch] < options_.saga_action_attempts) {
      out.sends.push_back({branch, Phase::kAct, /*retry=*/true});
      return out;
    }
    // Out of attempts or of time, or an error no attempt fixes: whether it acted is unknown,
    // so it is compensated with the others.
    b->set_state(storage::BRANCH_REFUSED);
    b->set_reason(answer.status.ToString());
    return StartCompensation(static_cast<int>(branch), b->reason(), now);
  }
  if (!answer.yes) {
    b->set_state(storage::BRANCH_REFUSED);
    b->set_voted_no(true);  // It recorded that nothing happened: no compensation.
    b->set_reason(answer.reason);
    return StartCompensation(static_cast<int>(branch), answer.reason, now);
  }
  if (b->state() == storage::BRANCH_PENDING) b->set_state(storage::BRANCH_COMMITTED);
  return StepDone() ? Advance(now) : out;
}

Actions Saga::Advance(absl::Time now) {
  Actions out;
  if (record_.saga_step() < last_step()) {
    // The step's result in the log before the next step's actions go out.
    record_.set_saga_step(record_.saga_step() + 1);
    out.write = RecordWrite(RecordKind::kUpdate, /*forced=*/false);
    return out;
  }
  committing_ = true;
  out.write = RecordWrite(RecordKind::kFinish, /*forced=*/true);
  out.write->record.set_state(storage::TXN_COMMITTED);
  out.write->record.set_decision_micros(absl::ToUnixMicros(now));
  out.write->record.set_finish_micros(absl::ToUnixMicros(now));
  return out;
}

Actions Saga::StartCompensation(int branch, const std::string& reason, absl::Time now) {
  compensating_ = true;
  record_.set_refused_branch(branch);
  record_.set_reason(reason);
  Actions out;
  out.write = RecordWrite(RecordKind::kDecision, /*forced=*/true);
  out.write->record.set_state(storage::TXN_COMPENSATING);
  out.write->record.set_decision_micros(absl::ToUnixMicros(now));
  return out;
}

bool Saga::NeedsCompensation(const storage::BranchRecord& b) const {
  if (b.step() > record_.saga_step()) return false;  // Never sent.
  if (b.state() == storage::BRANCH_COMPENSATED) return false;
  if (b.state() == storage::BRANCH_NEEDS_ATTENTION) return false;
  return !(b.state() == storage::BRANCH_REFUSED && b.voted_no());
}

std::vector<SendAction> Saga::NextCompensations() const {
  // The newest step with a compensation left; the steps below wait for it.
  int newest = -1;
  for (const auto& b : record_.branches()) {
    if (NeedsCompensation(b)) newest = std::max(newest, static_cast<int>(b.step()));
  }
  std::vector<SendAction> out;
  for (int i = 0; i < record_.branches_size(); ++i) {
    const auto& b = record_.branches(i);
    if (NeedsCompensation(b) && static_cast<int>(b.step()) == newest) {
      out.push_back({static_cast<uint32_t>(i), Phase::kCompensate});
    }
  }
  return out;
}

Actions Saga::ContinueCompensating(absl::Time now) {
  Actions out;
  out.sends = NextCompensations();
  if (!out.sends.empty()) return out;
  record_.set_state(storage::TXN_ABORTED);
  if (record_.finish_micros() == 0) record_.set_finish_micros(absl::ToUnixMicros(now));
  // Not forced: a lost finish record only repeats compensations, which participants answer
  // idempotently.
  out.write = RecordWrite(RecordKind::kFinish, /*forced=*/false);
  return out;
}

Actions Saga::OnCompensation(uint32_t branch, const Answer& answer, absl::Time now) {
  auto* b = record_.mutable_branches(static_cast<int>(branch));
  Actions out;
  if (!decided() || terminal() || b->state() == storage::BRANCH_COMPENSATED) return out;
  const bool refused_for_good =
      (answer.status.ok() && !answer.yes) || (!answer.status.ok() && !Retryable(answer.status));
  if (refused_for_good) {
    b->set_state(storage::BRANCH_NEEDS_ATTENTION);
    b->set_reason(answer.status.ok() ? answer.reason : answer.status.ToString());
    if (record_.state() == storage::TXN_NEEDS_ATTENTION) return out;
    record_.set_state(storage::TXN_NEEDS_ATTENTION);
    // Forced: a parked saga must stay visible through any crash until an operator acts.
    out.write = RecordWrite(RecordKind::kUpdate, /*forced=*/true);
    return out;
  }
  if (!answer.status.ok() || answer.in_progress) {
    // A compensation is never given up: asked again with the capped backoff.
    out.sends.push_back({branch, Phase::kCompensate, /*retry=*/true});
    return out;
  }
  b->set_state(storage::BRANCH_COMPENSATED);
  if (record_.state() != storage::TXN_COMPENSATING) return out;  // Parked: wait for the operator.
  // The step below starts only once this one is fully compensated.
  const uint32_t step = b->step();
  for (const auto& other : record_.branches()) {
    if (other.step() == step && NeedsCompensation(other)) return out;
  }
  // Its result in the log, then the next step down (or the finish).
  out.write = RecordWrite(RecordKind::kUpdate, /*forced=*/false);
  return out;
}

Actions Saga::OnWritten(RecordKind kind, const absl::Status& status, absl::Time now) {
  Actions out;
  if (!status.ok()) {
    if (kind == RecordKind::kBegin) {
      // Nothing was sent and nothing is known of it: the caller may retry with the same key.
      out.fail_callers = absl::UnavailableError(absl::StrCat(
          "transaction ", record_.txn_id(), ": the decision log cannot be written (",
          status.message(), "); nothing was done. Retry with the same idempotency key"));
      out.finished = true;
      return out;
    }
    if (kind == RecordKind::kDecision && !told_failure_) {
      told_failure_ = true;
      out.fail_callers = absl::UnavailableError(absl::StrCat(
          "transaction ", record_.txn_id(), ": the decision log cannot be written (",
          status.message(), "); the saga is being compensated. Retry with the same "
          "idempotency key to read its outcome"));
    }
    // The saga does not move on until its record is durable: the latest one is written again,
    // forced, after a pause.
    out.write = RecordWrite(kind, /*forced=*/true);
    if (kind == RecordKind::kDecision) {
      out.write->record.set_state(storage::TXN_COMPENSATING);
    } else if (kind == RecordKind::kFinish && committing_) {
      out.write->record.set_state(storage::TXN_COMMITTED);
      out.write->record.set_finish_micros(absl::ToUnixMicros(now));
    }
    out.write->after_pause = true;
    return out;
  }
  switch (kind) {
    case RecordKind::kBegin:
      out.sends = StepActions();
      return out;
    case RecordKind::kDecision:
      record_.set_state(storage::TXN_COMPENSATING);
      if (record_.decision_micros() == 0) record_.set_decision_micros(absl::ToUnixMicros(now));
      out = ContinueCompensating(now);
      out.decided = true;
      return out;
    case RecordKind::kUpdate:
      if (record_.state() == storage::TXN_PREPARING && !compensating_) {
        out.sends = StepActions();
      } else if (record_.state() == storage::TXN_COMPENSATING) {
        out = ContinueCompensating(now);
      }
      return out;
    case RecordKind::kFinish:
      if (committing_) {
        committing_ = false;
        record_.set_state(storage::TXN_COMMITTED);
        record_.set_decision_micros(absl::ToUnixMicros(now));
        record_.set_finish_micros(absl::ToUnixMicros(now));
        out.decided = true;
      }
      out.finished = true;
      return out;
    case RecordKind::kPreCommit:  // Three-phase only.
      return out;
  }
  return out;
}

absl::StatusOr<Actions> Saga::OnOperatorAbort(const std::string& reason, absl::Time now) {
  if (compensating_ || committing_ || record_.state() != storage::TXN_PREPARING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "transaction ", record_.txn_id(), " is ", TxnStateName(record_.state()),
        committing_ ? " (its last step is done)" : "", "; it cannot be aborted"));
  }
  AddOperatorAction("abort", "", reason, now);
  return StartCompensation(-1,
                           absl::StrCat("aborted by an operator: ",
                                        reason.empty() ? "no reason given" : reason),
                           now);
}

absl::StatusOr<Actions> Saga::OnOperatorRetry(const std::string& who, const std::string& reason,
                                              absl::Time now) {
  if (!needs_attention()) return Protocol::OnOperatorRetry(who, reason, now);
  AddOperatorAction("retry", who, reason, now);
  for (auto& b : *record_.mutable_branches()) {
    if (b.state() == storage::BRANCH_NEEDS_ATTENTION) b.set_state(storage::BRANCH_COMMITTED);
  }
  record_.set_state(storage::TXN_COMPENSATING);
  Actions out;
  // Forced, like the parking it ends; the compensations go out once it is written.
  out.write = RecordWrite(RecordKind::kUpdate, /*forced=*/true);
  return out;
}

absl::StatusOr<Actions> Saga::OnOperatorResolve(const std::string& who,
                                                const std::string& reason, absl::Time now) {
  if (!needs_attention()) return Protocol::OnOperatorResolve(who, reason, now);
  if (reason.empty()) {
    return absl::InvalidArgumentError(
        "reason is required to resolve a parked saga: say what was done by hand");
  }
  AddOperatorAction("resolve", who, reason, now);
  record_.set_state(storage::TXN_ABORTED);
  record_.set_finish_micros(absl::ToUnixMicros(now));
  Actions out;
  out.write = RecordWrite(RecordKind::kFinish, /*forced=*/true);
  return out;
}

Decision Saga::decision() const {
  switch (record_.state()) {
    case storage::TXN_COMMITTED:
      return Decision::kCommit;
    case storage::TXN_COMPENSATING:
    case storage::TXN_NEEDS_ATTENTION:
    case storage::TXN_ABORTED:
      return Decision::kAbort;
    default:
      return Decision::kUndecided;
  }
}

bool Saga::needs_attention() const { return record_.state() == storage::TXN_NEEDS_ATTENTION; }

}  // namespace settle::engine
