#include "server/service/api_convert.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"

namespace settle {

absl::StatusOr<absl::Duration> FromProtoDuration(const google::protobuf::Duration& d,
                                                 absl::string_view field) {
  using google::protobuf::util::TimeUtil;
  const bool mixed_signs = (d.seconds() > 0 && d.nanos() < 0) || (d.seconds() < 0 && d.nanos() > 0);
  if (d.nanos() < -999999999 || d.nanos() > 999999999 || mixed_signs ||
      d.seconds() < TimeUtil::kDurationMinSeconds || d.seconds() > TimeUtil::kDurationMaxSeconds) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " is not a valid Duration (seconds ", d.seconds(), ", nanos ", d.nanos(),
        "): nanos must be within +-999999999 with the sign of seconds, e.g. 5s is {seconds: 5}"));
  }
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::Status RequireField(absl::string_view value, absl::string_view field) {
  if (!value.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, " is required and was empty"));
}

namespace {

// The wire and record enums are converted name by name: their numbers are each one's own.
absl::StatusOr<engine::Mode> FromApiMode(int mode) {
  switch (mode) {
    case v1::MODE_UNSPECIFIED:
    case v1::MODE_TWO_PHASE: return engine::Mode::kTwoPhase;
    case v1::MODE_SAGA: return engine::Mode::kSaga;
    case v1::MODE_THREE_PHASE: return engine::Mode::kThreePhase;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "mode ", mode, " is not a known mode: use MODE_TWO_PHASE, MODE_SAGA or MODE_THREE_PHASE"));
  }
}

v1::Mode ToApiMode(storage::ModeRecord mode) {
  switch (mode) {
    case storage::MODE_RECORD_TWO_PHASE: return v1::MODE_TWO_PHASE;
    case storage::MODE_RECORD_SAGA: return v1::MODE_SAGA;
    case storage::MODE_RECORD_THREE_PHASE: return v1::MODE_THREE_PHASE;
    default: return v1::MODE_UNSPECIFIED;
  }
}

v1::TxnState ToApiState(storage::TxnStateRecord state) {
  switch (state) {
    case storage::TXN_PREPARING: return v1::TXN_STATE_PREPARING;
    case storage::TXN_COMMITTING: return v1::TXN_STATE_COMMITTING;
    case storage::TXN_ABORTING: return v1::TXN_STATE_ABORTING;
    case storage::TXN_COMMITTED: return v1::TXN_STATE_COMMITTED;
    case storage::TXN_ABORTED: return v1::TXN_STATE_ABORTED;
    case storage::TXN_COMPENSATING: return v1::TXN_STATE_COMPENSATING;
    case storage::TXN_NEEDS_ATTENTION: return v1::TXN_STATE_NEEDS_ATTENTION;
    case storage::TXN_PRECOMMITTING: return v1::TXN_STATE_PRECOMMITTING;
    default: return v1::TXN_STATE_UNSPECIFIED;
  }
}

absl::StatusOr<storage::TxnStateRecord> FromApiState(int state) {
  switch (state) {
    case v1::TXN_STATE_PREPARING: return storage::TXN_PREPARING;
    case v1::TXN_STATE_COMMITTING: return storage::TXN_COMMITTING;
    case v1::TXN_STATE_ABORTING: return storage::TXN_ABORTING;
    case v1::TXN_STATE_COMMITTED: return storage::TXN_COMMITTED;
    case v1::TXN_STATE_ABORTED: return storage::TXN_ABORTED;
    case v1::TXN_STATE_COMPENSATING: return storage::TXN_COMPENSATING;
    case v1::TXN_STATE_NEEDS_ATTENTION: return storage::TXN_NEEDS_ATTENTION;
    case v1::TXN_STATE_PRECOMMITTING: return storage::TXN_PRECOMMITTING;
    default:
      return absl::InvalidArgumentError(absl::StrCat("states holds unknown state ", state));
  }
}

v1::BranchState ToApiBranchState(storage::BranchStateRecord state) {
  switch (state) {
    case storage::BRANCH_PENDING: return v1::BRANCH_STATE_PENDING;
    case storage::BRANCH_PREPARED: return v1::BRANCH_STATE_PREPARED;
    case storage::BRANCH_REFUSED: return v1::BRANCH_STATE_REFUSED;
    case storage::BRANCH_COMMITTED: return v1::BRANCH_STATE_COMMITTED;
    case storage::BRANCH_ABORTED: return v1::BRANCH_STATE_ABORTED;
    case storage::BRANCH_COMPENSATED: return v1::BRANCH_STATE_COMPENSATED;
    case storage::BRANCH_NEEDS_ATTENTION: return v1::BRANCH_STATE_NEEDS_ATTENTION;
    case storage::BRANCH_PRECOMMITTED: return v1::BRANCH_STATE_PRECOMMITTED;
    default: return v1::BRANCH_STATE_UNSPECIFIED;
  }
}

}  // namespace

absl::StatusOr<engine::ExecuteParams> ToExecuteParams(const v1::ExecuteRequest& req) {
  engine::ExecuteParams p;
  auto timeout = FromProtoDuration(req.timeout(), "timeout");
  if (!timeout.ok()) return timeout.status();
  p.timeout = *timeout;
  p.idempotency_key = req.idempotency_key();
  for (const auto& b : req.branches()) {
    p.branches.push_back({b.participant(), b.payload(), b.step()});
  }
  auto mode = FromApiMode(req.mode());
  if (!mode.ok()) return mode.status();
  p.mode = *mode;
  p.wait_for_acks = req.wait_for_acks();
  p.only_if_known = req.only_if_known();
  return p;
}

void ToExecuteRequest(const engine::ExecuteParams& p, v1::ExecuteRequest* out) {
  out->set_idempotency_key(p.idempotency_key);
  for (const auto& b : p.branches) {
    auto* branch = out->add_branches();
    branch->set_participant(b.participant);
    branch->set_payload(b.payload);
    branch->set_step(b.step);
  }
  ToProtoDuration(p.timeout, out->mutable_timeout());
  out->set_mode(ToApiMode(engine::ModeToRecord(p.mode)));
  out->set_wait_for_acks(p.wait_for_acks);
  out->set_only_if_known(p.only_if_known);
}

engine::ExecuteResult FromExecuteResponse(const v1::ExecuteResponse& r) {
  engine::ExecuteResult out;
  out.txn_id = r.txn_id();
  out.committed = r.outcome() == v1::OUTCOME_COMMITTED;
  out.refused_branch = r.refused_branch();
  out.refused_participant = r.refused_participant();
  out.reason = r.reason();
  out.replayed = r.replayed();
  return out;
}

void ToExecuteResponse(const engine::ExecuteResult& r, v1::ExecuteResponse* out) {
  out->set_txn_id(r.txn_id);
  out->set_outcome(r.committed ? v1::OUTCOME_COMMITTED : v1::OUTCOME_ABORTED);
  out->set_refused_branch(r.refused_branch);
  out->set_refused_participant(r.refused_participant);
  out->set_reason(r.reason);
  out->set_replayed(r.replayed);
}

void ToTransaction(const engine::TxnSnapshot& snap, v1::Transaction* out) {
  const storage::TxnRecord& rec = snap.record;
  out->set_txn_id(rec.txn_id());
  out->set_idempotency_key(rec.idempotency_key());
  out->set_mode(ToApiMode(rec.mode()));
  out->set_state(ToApiState(rec.state()));
  for (int i = 0; i < rec.branches_size(); ++i) {
    const auto& b = rec.branches(i);
    auto* s = out->add_branches();
    s->set_branch_id(static_cast<uint32_t>(i));
    s->set_participant(b.participant());
    s->set_state(ToApiBranchState(b.state()));
    s->set_step(b.step());
    s->set_reason(b.reason());
    if (i < static_cast<int>(snap.delivery.size())) {
      const auto& d = snap.delivery[i];
      s->set_attempts(d.attempts);
      s->set_last_error(d.last_error);
      if (!d.acked && d.next_retry != absl::InfinitePast()) {
        ToProtoTime(d.next_retry, s->mutable_next_retry_time());
      }
    }
  }
  MicrosToProtoTime(rec.begin_micros(), out->mutable_begin_time());
  MicrosToProtoTime(rec.deadline_micros(), out->mutable_deadline());
  if (rec.decision_micros() != 0) MicrosToProtoTime(rec.decision_micros(), out->mutable_decision_time());
  if (rec.finish_micros() != 0) MicrosToProtoTime(rec.finish_micros(), out->mutable_finish_time());
  out->set_refused_branch(rec.refused_branch());
  out->set_reason(rec.reason());
  out->set_stuck(snap.stuck);
  for (const auto& a : rec.operator_actions()) {
    auto* o = out->add_operator_actions();
    o->set_action(a.action());
    o->set_operator_(a.who());
    o->set_reason(a.reason());
    MicrosToProtoTime(a.micros(), o->mutable_time());
  }
}

absl::StatusOr<engine::ListParams> ToListParams(const v1::ListTransactionsRequest& req) {
  engine::ListParams p;
  for (int s : req.states()) {
    auto state = FromApiState(s);
    if (!state.ok()) return state.status();
    p.states.push_back(*state);
  }
  if (req.has_begin_after()) {
    auto t = FromProtoTime(req.begin_after(), "begin_after");
    if (!t.ok()) return t.status();
    p.begin_after = *t;
  }
  if (req.has_begin_before()) {
    auto t = FromProtoTime(req.begin_before(), "begin_before");
    if (!t.ok()) return t.status();
    p.begin_before = *t;
  }
  p.participant = req.participant();
  if (req.mode() != v1::MODE_UNSPECIFIED) {
    auto mode = FromApiMode(req.mode());
    if (!mode.ok()) return mode.status();
    p.mode = engine::ModeToRecord(*mode);
  }
  p.stuck_only = req.stuck_only();
  p.page_size = req.page_size();
  p.page_token = req.page_token();
  return p;
}

void ToParticipantInfo(const engine::ParticipantEntry& e, v1::ParticipantInfo* out) {
  out->set_name(e.record.name());
  out->set_endpoint(e.record.endpoint());
  MicrosToProtoTime(e.record.registered_micros(), out->mutable_registered_time());
  auto* h = out->mutable_health();
  if (e.health.last_success != absl::InfinitePast()) {
    ToProtoTime(e.health.last_success, h->mutable_last_success());
  }
  h->set_consecutive_failures(e.health.consecutive_failures);
  h->set_last_error(e.health.last_error);
  h->set_circuit_open(e.health.circuit_open);
}

}  // namespace settle
