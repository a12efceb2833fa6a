#include "server/engine/three_phase.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace settle::engine {

ThreePhase::ThreePhase(storage::TxnRecord record, const ProtocolOptions& options)
    : TwoPhase(std::move(record), Mode::kThreePhase) {
  if (record_.three_phase_timeout_micros() <= 0) {
    record_.set_three_phase_timeout_micros(
        std::max<int64_t>(1, absl::ToInt64Microseconds(options.three_phase_timeout)));
  }
}

absl::Duration ThreePhase::timeout() const {
  return absl::Microseconds(record_.three_phase_timeout_micros());
}

Actions ThreePhase::OnAllVotedYes(absl::Time /*now*/) {
  precommit_logging_ = true;
  Actions out;
  WriteAction w{RecordKind::kPreCommit, record_, /*forced=*/true};
  w.record.set_state(storage::TXN_PRECOMMITTING);
  out.write = std::move(w);
  return out;
}

Actions ThreePhase::SendPreCommits(absl::Time now) {
  precommits_sent_ = now;
  Actions out;
  for (uint32_t b = 0; b < branch_count(); ++b) {
    if (record_.branches(static_cast<int>(b)).state() != storage::BRANCH_PRECOMMITTED) {
      out.sends.push_back({b, Phase::kPreCommit});
    }
  }
  return out;
}

Actions ThreePhase::Resume(absl::Time now) {
  if (record_.state() == storage::TXN_PRECOMMITTING) return SendPreCommits(now);
  return TwoPhase::Resume(now);
}

Actions ThreePhase::OnAnswer(uint32_t branch, Phase phase, const Answer& answer,
                             absl::Time now) {
  SETTLE_CHECK_LT(branch, branch_count()) << "answer for unknown branch of " << record_.txn_id();
  if (phase == Phase::kPreCommit) return OnPreCommitAck(branch, answer, now);
  if ((phase == Phase::kCommit || phase == Phase::kAbort) && decided() &&
      !answer.status.ok() && !Retryable(answer.status)) {
    return Park(branch, answer, now);
  }
  return TwoPhase::OnAnswer(branch, phase, answer, now);
}

Actions ThreePhase::OnPreCommitAck(uint32_t branch, const Answer& answer, absl::Time now) {
  if (record_.state() != storage::TXN_PRECOMMITTING || decision_started()) return {};
  auto* b = record_.mutable_branches(static_cast<int>(branch));
  if (answer.status.ok()) {
    b->set_state(storage::BRANCH_PRECOMMITTED);
    for (const auto& other : record_.branches()) {
      if (other.state() != storage::BRANCH_PRECOMMITTED) return {};
    }
    return StartCommit(now);
  }
  if (!Retryable(answer.status)) {
    // It aborted on its own timer before the PreCommit came: nobody can have committed (a
    // peer's termination sees this abort), so ABORT is the only consistent outcome.
    b->set_state(storage::BRANCH_REFUSED);
    b->set_reason(answer.status.ToString());
    StartAbort(static_cast<int>(branch), absl::StrCat("PreCommit refused: ", b->reason()));
    Actions out;
    out.write = DecisionWrite(now);
    return out;
  }
  if (now - precommits_sent_ >= timeout()) {
    // The literature's rule: a branch silent for the whole bound is taken as failed. The others
    // are precommitted, so a recovering branch's termination protocol finds them and commits.
    return StartCommit(now);
  }
  Actions out;
  out.sends.push_back({branch, Phase::kPreCommit, /*retry=*/true});
  return out;
}

Actions ThreePhase::Park(uint32_t branch, const Answer& answer, absl::Time /*now*/) {
  auto* b = record_.mutable_branches(static_cast<int>(branch));
  if (b->state() == storage::BRANCH_NEEDS_ATTENTION) return {};
  b->set_state(storage::BRANCH_NEEDS_ATTENTION);
  b->set_reason(absl::StrCat("decided otherwise on its own timer (a message took longer than ",
                             absl::FormatDuration(timeout()), "): ", answer.status.ToString()));
  Actions out;
  out.write = WriteAction{RecordKind::kUpdate, record_, /*forced=*/true};
  return out;
}

Actions ThreePhase::OnWritten(RecordKind kind, const absl::Status& status, absl::Time now) {
  if (kind == RecordKind::kPreCommit) {
    precommit_logging_ = false;
    if (!status.ok()) return DecisionNotLogged(status, now);
    record_.set_state(storage::TXN_PRECOMMITTING);
    return SendPreCommits(now);
  }
  if (kind == RecordKind::kUpdate && !status.ok() && AnyParked()) {
    Actions out;
    out.write = WriteAction{RecordKind::kUpdate, record_, /*forced=*/true, /*after_pause=*/true};
    return out;
  }
  return TwoPhase::OnWritten(kind, status, now);
}

absl::StatusOr<Actions> ThreePhase::OnOperatorAbort(const std::string& reason, absl::Time now) {
  if (precommit_logging_ || record_.state() == storage::TXN_PRECOMMITTING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "transaction ", record_.txn_id(),
        " is precommitted: its participants may commit on their own; it cannot be aborted"));
  }
  return TwoPhase::OnOperatorAbort(reason, now);
}

absl::StatusOr<Actions> ThreePhase::OnOperatorRetry(const std::string& who,
                                                    const std::string& reason, absl::Time now) {
  if (!needs_attention()) return Protocol::OnOperatorRetry(who, reason, now);
  AddOperatorAction("retry", who, reason, now);
  Actions out;
  const Phase phase = decide_commit() ? Phase::kCommit : Phase::kAbort;
  for (uint32_t b = 0; b < branch_count(); ++b) {
    auto* br = record_.mutable_branches(static_cast<int>(b));
    if (br->state() != storage::BRANCH_NEEDS_ATTENTION) continue;
    br->set_state(storage::BRANCH_PRECOMMITTED);  // Not acknowledged: delivered again.
    out.sends.push_back({b, phase});
  }
  out.write = WriteAction{RecordKind::kUpdate, record_, /*forced=*/true};
  return out;
}

absl::StatusOr<Actions> ThreePhase::OnOperatorResolve(const std::string& who,
                                                      const std::string& reason,
                                                      absl::Time now) {
  if (!needs_attention()) return Protocol::OnOperatorResolve(who, reason, now);
  if (reason.empty()) {
    return absl::InvalidArgumentError(
        "reason is required to resolve a parked transaction: say what was done by hand");
  }
  AddOperatorAction("resolve", who, reason, now);
  // The outcome callers heard stands; the parked branch keeps its mark for the record.
  record_.set_state(decide_commit() ? storage::TXN_COMMITTED : storage::TXN_ABORTED);
  record_.set_finish_micros(absl::ToUnixMicros(now));
  Actions out;
  out.write = WriteAction{RecordKind::kFinish, record_, /*forced=*/true};
  return out;
}

bool ThreePhase::AnyParked() const {
  for (const auto& b : record_.branches()) {
    if (b.state() == storage::BRANCH_NEEDS_ATTENTION) return true;
  }
  return false;
}

bool ThreePhase::needs_attention() const {
  if (!decided() || terminal() || !AnyParked()) return false;
  const auto done = decide_commit() ? storage::BRANCH_COMMITTED : storage::BRANCH_ABORTED;
  for (const auto& b : record_.branches()) {
    if (b.state() != done && b.state() != storage::BRANCH_NEEDS_ATTENTION && !b.voted_no()) {
      return false;
    }
  }
  return true;
}

}  // namespace settle::engine
