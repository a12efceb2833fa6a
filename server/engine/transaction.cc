#include "server/engine/transaction.h"

#include <utility>

#include "common/check.h"

namespace settle::engine {
namespace {

std::vector<std::string> Participants(const storage::TxnRecord& rec) {
  std::vector<std::string> out;
  for (const auto& b : rec.branches()) out.push_back(b.participant());
  return out;
}

bool Decided(storage::TxnStateRecord s) {
  return s != storage::TXN_PREPARING && s != storage::TXN_UNKNOWN;
}

}  // namespace

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

Transaction::Transaction(storage::TxnRecord record)
    : id_(record.txn_id()),
      key_(record.idempotency_key()),
      mode_(record.mode()),
      begin_(absl::FromUnixMicros(record.begin_micros())),
      participants_(Participants(record)),
      record_(std::move(record)),
      delivery_(participants_.size()) {
  for (int i = 0; i < record_.branches_size(); ++i) {
    const auto s = record_.branches(i).state();
    delivery_[i].acked = s == storage::BRANCH_COMMITTED || s == storage::BRANCH_ABORTED;
  }
}

std::optional<bool> Transaction::SameBody(const storage::TxnRecord& other) const {
  absl::MutexLock lock(&mu_);
  if (!payloads_shed_) return settle::engine::SameBody(record_, other);
  if (record_.mode() != other.mode() || record_.branches_size() != other.branches_size()) {
    return false;
  }
  for (int i = 0; i < record_.branches_size(); ++i) {
    if (record_.branches(i).participant() != other.branches(i).participant()) return false;
  }
  return std::nullopt;
}

std::optional<ExecuteResult> Transaction::AddWaiter(bool wait_for_acks, bool replayed,
                                                    ExecuteDone done) {
  absl::MutexLock lock(&mu_);
  if (wait_for_acks ? TerminalLocked() : DecidedLocked()) {
    ExecuteResult r = ResultLocked();
    r.replayed = replayed;
    return r;
  }
  if (replayed) {
    // Whoever answers it later hands over the transaction's result; this caller did not begin
    // the transaction, so its answer says so.
    done = [done = std::move(done)](absl::StatusOr<ExecuteResult> r) {
      if (r.ok()) r->replayed = true;
      done(std::move(r));
    };
  }
  waiters_.push_back({wait_for_acks, std::move(done)});
  return std::nullopt;
}

std::vector<PrepareCall> Transaction::PrepareCalls() const {
  absl::MutexLock lock(&mu_);
  std::vector<PrepareCall> calls;
  const absl::Time deadline = absl::FromUnixMicros(record_.deadline_micros());
  for (int i = 0; i < record_.branches_size(); ++i) {
    calls.push_back({{id_, static_cast<uint32_t>(i)},
                     record_.branches(i).participant(),
                     record_.branches(i).payload(),
                     deadline});
  }
  return calls;
}

Transaction::VoteAction Transaction::RecordVote(uint32_t branch,
                                                const absl::StatusOr<VoteResult>& vote) {
  absl::MutexLock lock(&mu_);
  SETTLE_CHECK_LT(branch, participants_.size()) << "vote for unknown branch of " << id_;
  auto* b = record_.mutable_branches(static_cast<int>(branch));
  if (decision_started_) {
    // Late vote: keep what it says for queries, but it changes nothing.
    if (vote.ok() && vote->yes && b->state() == storage::BRANCH_PENDING) {
      b->set_state(storage::BRANCH_PREPARED);
    }
    return VoteAction::kIgnore;
  }
  if (vote.ok() && vote->yes) {
    b->set_state(storage::BRANCH_PREPARED);
    for (const auto& other : record_.branches()) {
      if (other.state() != storage::BRANCH_PREPARED) return VoteAction::kWait;
    }
    decision_started_ = true;
    decide_commit_ = true;
    return VoteAction::kCommit;
  }
  b->set_state(storage::BRANCH_REFUSED);
  b->set_voted_no(vote.ok());
  b->set_reason(vote.ok() ? vote->reason : std::string(vote.status().ToString()));
  decision_started_ = true;
  decide_commit_ = false;
  record_.set_refused_branch(static_cast<int>(branch));
  record_.set_reason(b->reason());
  return VoteAction::kAbort;
}

bool Transaction::StartAbort(int refused_branch, const std::string& reason) {
  absl::MutexLock lock(&mu_);
  if (decision_started_) return false;
  decision_started_ = true;
  decide_commit_ = false;
  record_.set_refused_branch(refused_branch);
  record_.set_reason(reason);
  return true;
}

std::vector<ExecuteDone> Transaction::DecisionNotLogged(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  SETTLE_CHECK(decision_started_ && record_.state() == storage::TXN_PREPARING)
      << "only an unlogged decision can fail to log, txn " << id_;
  if (decide_commit_) {
    decide_commit_ = false;
    record_.set_refused_branch(-1);
    record_.set_reason(reason);
  }
  std::vector<ExecuteDone> out;
  for (auto& w : waiters_) out.push_back(std::move(w.done));
  waiters_.clear();
  return out;
}

storage::TxnRecord Transaction::DecisionRecord(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  SETTLE_CHECK(decision_started_) << "no decision started for " << id_;
  storage::TxnRecord rec = record_;
  rec.set_state(decide_commit_ ? storage::TXN_COMMITTING : storage::TXN_ABORTING);
  rec.set_decision_micros(absl::ToUnixMicros(now));
  return rec;
}

std::vector<ExecuteDone> Transaction::ApplyDecision(absl::Time now) {
  absl::MutexLock lock(&mu_);
  SETTLE_CHECK(decision_started_) << "no decision started for " << id_;
  record_.set_state(decide_commit_ ? storage::TXN_COMMITTING : storage::TXN_ABORTING);
  // A recovered transaction keeps the decision time it was logged with.
  if (record_.decision_micros() == 0) record_.set_decision_micros(absl::ToUnixMicros(now));
  std::vector<ExecuteDone> out;
  std::vector<Waiter> keep;
  for (auto& w : waiters_) {
    if (w.wait_for_acks) {
      keep.push_back(std::move(w));
    } else {
      out.push_back(std::move(w.done));
    }
  }
  waiters_ = std::move(keep);
  return out;
}

void Transaction::RestoreDecided() {
  absl::MutexLock lock(&mu_);
  SETTLE_CHECK(Decided(record_.state())) << "txn " << id_ << " was not decided";
  decision_started_ = true;
  decide_commit_ = record_.state() == storage::TXN_COMMITTING;
}

bool Transaction::committing() const {
  absl::MutexLock lock(&mu_);
  return decide_commit_;
}

storage::TxnStateRecord Transaction::state() const {
  absl::MutexLock lock(&mu_);
  return record_.state();
}

ExecuteResult Transaction::Result() const {
  absl::MutexLock lock(&mu_);
  return ResultLocked();
}

ExecuteResult Transaction::ResultLocked() const { return ResultFromRecord(record_); }

std::vector<uint32_t> Transaction::BranchesToDeliver() const {
  absl::MutexLock lock(&mu_);
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < delivery_.size(); ++i) {
    if (delivery_[i].acked) continue;
    if (!decide_commit_ && record_.branches(static_cast<int>(i)).voted_no()) continue;
    out.push_back(i);
  }
  return out;
}

bool Transaction::RecordAck(uint32_t branch) {
  absl::MutexLock lock(&mu_);
  if (delivery_[branch].acked) return false;  // A duplicate ack finishes nothing twice.
  delivery_[branch].acked = true;
  delivery_[branch].next_retry = absl::InfinitePast();
  record_.mutable_branches(static_cast<int>(branch))
      ->set_state(decide_commit_ ? storage::BRANCH_COMMITTED : storage::BRANCH_ABORTED);
  return AllAckedLocked();
}

void Transaction::RecordDeliveryFailure(uint32_t branch, const absl::Status& error,
                                        absl::Time next_retry) {
  absl::MutexLock lock(&mu_);
  ++delivery_[branch].attempts;
  delivery_[branch].last_error = error.ToString();
  delivery_[branch].next_retry = next_retry;
}

uint32_t Transaction::DeliveryAttempts(uint32_t branch) const {
  absl::MutexLock lock(&mu_);
  return delivery_[branch].attempts;
}

void Transaction::ShedPayloads() {
  absl::MutexLock lock(&mu_);
  SETTLE_CHECK(DecidedLocked()) << "payloads of undecided txn " << id_ << " are still needed";
  if (payloads_shed_) return;
  payloads_shed_ = true;
  for (auto& b : *record_.mutable_branches()) {
    b.clear_payload();
    b.mutable_payload()->shrink_to_fit();
  }
}

bool Transaction::payloads_shed() const {
  absl::MutexLock lock(&mu_);
  return payloads_shed_;
}

bool Transaction::AllAckedLocked() const {
  for (uint32_t i = 0; i < delivery_.size(); ++i) {
    if (delivery_[i].acked) continue;
    if (!decide_commit_ && record_.branches(static_cast<int>(i)).voted_no()) continue;
    return false;
  }
  return true;
}

storage::TxnRecord Transaction::FinishRecord(absl::Time now) {
  absl::MutexLock lock(&mu_);
  SETTLE_CHECK(DecidedLocked() && AllAckedLocked()) << "txn " << id_ << " is not ready to finish";
  record_.set_state(decide_commit_ ? storage::TXN_COMMITTED : storage::TXN_ABORTED);
  if (record_.finish_micros() == 0) record_.set_finish_micros(absl::ToUnixMicros(now));
  for (auto& b : *record_.mutable_branches()) {
    if (!decide_commit_ && b.voted_no()) continue;
    b.set_state(decide_commit_ ? storage::BRANCH_COMMITTED : storage::BRANCH_ABORTED);
  }
  return record_;
}

std::vector<ExecuteDone> Transaction::TakeWaiters() {
  absl::MutexLock lock(&mu_);
  std::vector<ExecuteDone> out;
  for (auto& w : waiters_) out.push_back(std::move(w.done));
  waiters_.clear();
  return out;
}

bool Transaction::DecidedLocked() const { return Decided(record_.state()); }

bool Transaction::TerminalLocked() const {
  return record_.state() == storage::TXN_COMMITTED || record_.state() == storage::TXN_ABORTED;
}

bool Transaction::InDoubt() const {
  absl::MutexLock lock(&mu_);
  return DecidedLocked() && !TerminalLocked();
}

bool Transaction::Stuck(absl::Time now, absl::Duration stuck_after) const {
  absl::MutexLock lock(&mu_);
  return StuckLocked(now, stuck_after);
}

bool Transaction::StuckLocked(absl::Time now, absl::Duration stuck_after) const {
  if (!DecidedLocked() || TerminalLocked()) return false;
  return now - absl::FromUnixMicros(record_.decision_micros()) > stuck_after;
}

TxnSnapshot Transaction::Snapshot(absl::Time now, absl::Duration stuck_after) const {
  absl::MutexLock lock(&mu_);
  return TxnSnapshot{record_, delivery_, StuckLocked(now, stuck_after)};
}

}  // namespace settle::engine
