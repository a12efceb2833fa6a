#include "server/engine/protocol.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace settle::engine {

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kTwoPhase: return "two_phase";
    case Mode::kSaga: return "saga";
    case Mode::kThreePhase: return "three_phase";
  }
  return "unknown";
}

std::optional<Mode> ModeFromRecord(storage::ModeRecord mode) {
  switch (mode) {
    case storage::MODE_RECORD_TWO_PHASE: return Mode::kTwoPhase;
    case storage::MODE_RECORD_SAGA: return Mode::kSaga;
    case storage::MODE_RECORD_THREE_PHASE: return Mode::kThreePhase;
    default: return std::nullopt;
  }
}

storage::ModeRecord ModeToRecord(Mode mode) {
  switch (mode) {
    case Mode::kTwoPhase: return storage::MODE_RECORD_TWO_PHASE;
    case Mode::kSaga: return storage::MODE_RECORD_SAGA;
    case Mode::kThreePhase: return storage::MODE_RECORD_THREE_PHASE;
  }
  return storage::MODE_RECORD_UNKNOWN;
}

const char* TxnStateName(storage::TxnStateRecord state) {
  switch (state) {
    case storage::TXN_PREPARING: return "preparing";
    case storage::TXN_COMMITTING: return "committing";
    case storage::TXN_ABORTING: return "aborting";
    case storage::TXN_COMMITTED: return "committed";
    case storage::TXN_ABORTED: return "aborted";
    case storage::TXN_COMPENSATING: return "compensating";
    case storage::TXN_NEEDS_ATTENTION: return "needs_attention";
    case storage::TXN_PRECOMMITTING: return "precommitting";
    default: return "unknown";
  }
}

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kPrepare: return "Prepare";
    case Phase::kCommit: return "Commit";
    case Phase::kAbort: return "Abort";
    case Phase::kAct: return "Act";
    case Phase::kCompensate: return "Compensate";
    case Phase::kPreCommit: return "PreCommit";
  }
  return "unknown";
}

ExecuteResult ResultFromRecord(const storage::TxnRecord& rec) {
  ExecuteResult r;
  r.txn_id = rec.txn_id();
  r.committed = rec.state() == storage::TXN_COMMITTING || rec.state() == storage::TXN_COMMITTED;
  if (!r.committed) {
    r.refused_branch = rec.refused_branch();
    if (r.refused_branch >= 0 && r.refused_branch < rec.branches_size()) {
      r.refused_participant = rec.branches(r.refused_branch).participant();
    }
    r.reason = rec.reason();
  }
  return r;
}

bool SameBody(const storage::TxnRecord& a, const storage::TxnRecord& b) {
  if (a.mode() != b.mode() || a.branches_size() != b.branches_size()) return false;
  for (int i = 0; i < a.branches_size(); ++i) {
    if (a.branches(i).participant() != b.branches(i).participant() ||
        a.branches(i).payload() != b.branches(i).payload()) {
      return false;
    }
  }
  return true;
}

bool Retryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
      return true;
    default:
      return false;
  }
}

Protocol::Protocol(storage::TxnRecord record, Mode mode)
    : record_(std::move(record)), mode_(mode) {}

absl::StatusOr<Actions> Protocol::OnOperatorRetry(const std::string&, const std::string&,
                                                  absl::Time) {
  return absl::FailedPreconditionError(absl::StrCat(
      "transaction ", record_.txn_id(), " is ", TxnStateName(record_.state()),
      ", not waiting for attention; only a parked saga can be retried or resolved"));
}

absl::StatusOr<Actions> Protocol::OnOperatorResolve(const std::string& who,
                                                    const std::string& reason, absl::Time now) {
  return OnOperatorRetry(who, reason, now);
}

bool Protocol::decided() const {
  return record_.state() != storage::TXN_PREPARING && record_.state() != storage::TXN_UNKNOWN &&
         record_.state() != storage::TXN_PRECOMMITTING;
}

void Protocol::AddOperatorAction(const std::string& action, const std::string& who,
                                 const std::string& reason, absl::Time now) {
  auto* a = record_.add_operator_actions();
  a->set_action(action);
  a->set_who(who);
  a->set_reason(reason);
  a->set_micros(absl::ToUnixMicros(now));
}

bool Protocol::terminal() const {
  return record_.state() == storage::TXN_COMMITTED || record_.state() == storage::TXN_ABORTED;
}

void Protocol::ShedPayloads() {
  if (payloads_shed_) return;
  payloads_shed_ = true;
  for (auto& b : *record_.mutable_branches()) {
    b.clear_payload();
    b.mutable_payload()->shrink_to_fit();
  }
}

}  // namespace settle::engine
