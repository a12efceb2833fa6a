#include "server/engine/two_phase.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace settle::engine {
namespace {

bool Acked(storage::BranchStateRecord s) {
  return s == storage::BRANCH_COMMITTED || s == storage::BRANCH_ABORTED;
}

}  // namespace

TwoPhase::TwoPhase(storage::TxnRecord record) : TwoPhase(std::move(record), Mode::kTwoPhase) {}

TwoPhase::TwoPhase(storage::TxnRecord record, Mode mode) : Protocol(std::move(record), mode) {}

uint32_t TwoPhase::branch_count() const { return static_cast<uint32_t>(record_.branches_size()); }

bool TwoPhase::acked(uint32_t branch) const {
  return Acked(record_.branches(static_cast<int>(branch)).state());
}

Actions TwoPhase::Start(absl::Time /*now*/) {
  Actions out;
  // Not forced, and the Prepares do not wait for it: the log writes in queue order, so it lands
  // before the decision, and under presumed abort a begin lost in a crash only means the
  // participants learn ABORT by GetDecision instead of from recovery.
  out.write = WriteAction{RecordKind::kBegin, record_, /*forced=*/false};
  for (uint32_t b = 0; b < branch_count(); ++b) out.sends.push_back({b, Phase::kPrepare});
  return out;
}

Actions TwoPhase::Resume(absl::Time now) {
  if (!decided()) {
    // No decision reached the log, so none was ever announced: presumed abort.
    StartAbort(-1, "the coordinator restarted before the transaction was decided");
    Actions out;
    out.write = DecisionWrite(now);
    return out;
  }
  decision_started_ = true;
  decide_commit_ = record_.state() == storage::TXN_COMMITTING ||
                   record_.state() == storage::TXN_COMMITTED;
  return Apply(now);
}

Actions TwoPhase::OnAnswer(uint32_t branch, Phase phase, const Answer& answer, absl::Time now) {
  SETTLE_CHECK_LT(branch, branch_count()) << "answer for unknown branch of " << record_.txn_id();
  return phase == Phase::kPrepare ? OnVote(branch, answer, now) : OnAck(branch, phase, answer, now);
}

Actions TwoPhase::OnVote(uint32_t branch, const Answer& answer, absl::Time now) {
  auto* b = record_.mutable_branches(static_cast<int>(branch));
  const bool yes = answer.status.ok() && answer.yes;
  if (decision_started_) {
    // A late vote: kept for queries, it changes nothing.
    if (yes && b->state() == storage::BRANCH_PENDING) b->set_state(storage::BRANCH_PREPARED);
    return {};
  }
  Actions out;
  if (yes) {
    b->set_state(storage::BRANCH_PREPARED);
    for (const auto& other : record_.branches()) {
      if (other.state() != storage::BRANCH_PREPARED) return out;
    }
    return OnAllVotedYes(now);
  }
  b->set_state(storage::BRANCH_REFUSED);
  b->set_voted_no(answer.status.ok());
  b->set_reason(answer.status.ok() ? answer.reason : answer.status.ToString());
  decision_started_ = true;
  decide_commit_ = false;
  record_.set_refused_branch(static_cast<int>(branch));
  record_.set_reason(b->reason());
  out.write = DecisionWrite(now);
  return out;
}

Actions TwoPhase::OnAllVotedYes(absl::Time now) { return StartCommit(now); }

Actions TwoPhase::StartCommit(absl::Time now) {
  decision_started_ = true;
  decide_commit_ = true;
  Actions out;
  out.write = DecisionWrite(now);
  return out;
}

Actions TwoPhase::OnAck(uint32_t branch, Phase phase, const Answer& answer, absl::Time now) {
  Actions out;
  if (!decided() || acked(branch)) return out;  // A duplicate ack finishes nothing twice.
  if (!answer.status.ok()) {
    // Never given up: a decided outcome must reach every participant.
    out.sends.push_back({branch, phase, /*retry=*/true});
    return out;
  }
  record_.mutable_branches(static_cast<int>(branch))
      ->set_state(decide_commit_ ? storage::BRANCH_COMMITTED : storage::BRANCH_ABORTED);
  if (AllAcked()) out.write = FinishWrite(now);
  return out;
}

Actions TwoPhase::OnWritten(RecordKind kind, const absl::Status& status, absl::Time now) {
  Actions out;
  switch (kind) {
    case RecordKind::kBegin:
    case RecordKind::kUpdate:
    case RecordKind::kPreCommit:
      // The decision record stands alone (LogBatch::Decide), so a lost begin changes nothing
      // while this process lives; the decision's own write reports whether the log works.
      return out;
    case RecordKind::kDecision:
      if (status.ok()) return Apply(now);
      if (!forcing_abort_) return DecisionNotLogged(status, now);
      out.write = DecisionWrite(now);
      out.write->after_pause = true;
      return out;
    case RecordKind::kFinish:
      if (status.ok()) {
        out.finished = true;
      } else {
        out.write = FinishWrite(now);
        out.write->after_pause = true;
      }
      return out;
  }
  return out;
}

Actions TwoPhase::DecisionNotLogged(const absl::Status& status, absl::Time now) {
  // Nobody was told and no Commit went out. Whether the record reached the disk is unknown, so
  // an ABORT is forced after it; it supersedes a COMMIT either way.
  forcing_abort_ = true;
  if (decide_commit_ || !decision_started_) {
    decision_started_ = true;
    decide_commit_ = false;
    record_.set_refused_branch(-1);
    record_.set_reason(absl::StrCat("the decision could not be logged: ", status.message()));
  }
  Actions out;
  out.fail_callers = absl::UnavailableError(absl::StrCat(
      "transaction ", record_.txn_id(), ": the decision log cannot be written (",
      status.message(),
      "); the transaction is being aborted. Retry with the same idempotency key to read its "
      "outcome"));
  out.write = DecisionWrite(now);
  return out;
}

absl::StatusOr<Actions> TwoPhase::OnOperatorAbort(const std::string& reason, absl::Time now) {
  if (!StartAbort(-1, absl::StrCat("aborted by an operator: ",
                                   reason.empty() ? "no reason given" : reason))) {
    return absl::FailedPreconditionError(
        absl::StrCat("transaction ", record_.txn_id(), " is already decided (",
                     decide_commit_ ? "COMMIT" : "ABORT", "); it cannot be aborted"));
  }
  Actions out;
  out.write = DecisionWrite(now);
  return out;
}

Decision TwoPhase::decision() const {
  switch (record_.state()) {
    case storage::TXN_COMMITTING:
    case storage::TXN_COMMITTED:
      return Decision::kCommit;
    case storage::TXN_ABORTING:
    case storage::TXN_ABORTED:
      return Decision::kAbort;
    default:
      // Includes a COMMIT being forced right now: not a decision until durable.
      return Decision::kUndecided;
  }
}

bool TwoPhase::StartAbort(int refused_branch, const std::string& reason) {
  if (decision_started_) return false;
  decision_started_ = true;
  decide_commit_ = false;
  record_.set_refused_branch(refused_branch);
  record_.set_reason(reason);
  return true;
}

WriteAction TwoPhase::DecisionWrite(absl::Time now) const {
  WriteAction w{RecordKind::kDecision, record_, /*forced=*/true};
  w.record.set_state(decide_commit_ ? storage::TXN_COMMITTING : storage::TXN_ABORTING);
  w.record.set_decision_micros(absl::ToUnixMicros(now));
  return w;
}

Actions TwoPhase::Apply(absl::Time now) {
  SETTLE_CHECK(decision_started_) << "no decision started for " << record_.txn_id();
  record_.set_state(decide_commit_ ? storage::TXN_COMMITTING : storage::TXN_ABORTING);
  // A recovered transaction keeps the decision time it was logged with.
  if (record_.decision_micros() == 0) record_.set_decision_micros(absl::ToUnixMicros(now));
  Actions out;
  out.decided = true;
  out.sends = Deliveries();
  if (out.sends.empty()) out.write = FinishWrite(now);
  return out;
}

std::vector<SendAction> TwoPhase::Deliveries() const {
  std::vector<SendAction> out;
  const Phase phase = decide_commit_ ? Phase::kCommit : Phase::kAbort;
  for (uint32_t b = 0; b < branch_count(); ++b) {
    if (acked(b)) continue;
    // A NO means the participant recorded the abort itself.
    if (!decide_commit_ && record_.branches(static_cast<int>(b)).voted_no()) continue;
    out.push_back({b, phase});
  }
  return out;
}

bool TwoPhase::AllAcked() const {
  for (uint32_t b = 0; b < branch_count(); ++b) {
    if (!acked(b) && (decide_commit_ || !record_.branches(static_cast<int>(b)).voted_no())) {
      return false;
    }
  }
  return true;
}

WriteAction TwoPhase::FinishWrite(absl::Time now) {
  record_.set_state(decide_commit_ ? storage::TXN_COMMITTED : storage::TXN_ABORTED);
  if (record_.finish_micros() == 0) record_.set_finish_micros(absl::ToUnixMicros(now));
  for (auto& b : *record_.mutable_branches()) {
    if (!decide_commit_ && b.voted_no()) continue;
    b.set_state(decide_commit_ ? storage::BRANCH_COMMITTED : storage::BRANCH_ABORTED);
  }
  // Not forced: a lost finish record only makes recovery deliver the decision once more.
  return WriteAction{RecordKind::kFinish, record_, /*forced=*/false};
}

}  // namespace settle::engine
