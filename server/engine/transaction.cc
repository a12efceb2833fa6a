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

bool Acked(storage::BranchStateRecord s) {
  return s == storage::BRANCH_COMMITTED || s == storage::BRANCH_ABORTED;
}

}  // namespace

Transaction::Transaction(std::unique_ptr<Protocol> protocol)
    : id_(protocol->record().txn_id()),
      key_(protocol->record().idempotency_key()),
      mode_(protocol->mode()),
      begin_(absl::FromUnixMicros(protocol->record().begin_micros())),
      deadline_(absl::FromUnixMicros(protocol->record().deadline_micros())),
      participants_(Participants(protocol->record())),
      protocol_(std::move(protocol)),
      delivery_(participants_.size()) {
  const storage::TxnRecord& rec = protocol_->record();
  for (int i = 0; i < rec.branches_size(); ++i) delivery_[i].acked = Acked(rec.branches(i).state());
}

Step Transaction::Apply(const std::function<Actions(Protocol&)>& event) {
  absl::MutexLock lock(&mu_);
  return TakeCallers(event(*protocol_));
}

absl::StatusOr<Step> Transaction::ApplyOperator(
    const std::function<absl::StatusOr<Actions>(Protocol&)>& command) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Actions> actions = command(*protocol_);
  if (!actions.ok()) return actions.status();
  return TakeCallers(*std::move(actions));
}

Step Transaction::TakeCallers(Actions actions) {
  Step step;
  step.result = protocol_->Result();
  if (actions.fail_callers.has_value()) {
    for (auto& w : waiters_) step.to_fail.push_back(std::move(w.done));
    waiters_.clear();
  }
  if (actions.finished) {
    for (auto& w : waiters_) step.to_answer.push_back(std::move(w.done));
    waiters_.clear();
  } else if (actions.decided) {
    std::vector<Waiter> keep;
    for (auto& w : waiters_) {
      if (w.wait_for_acks) {
        keep.push_back(std::move(w));
      } else {
        step.to_answer.push_back(std::move(w.done));
      }
    }
    waiters_ = std::move(keep);
  }
  step.actions = std::move(actions);
  return step;
}

bool Transaction::MarkNoLongerDeciding() {
  absl::MutexLock lock(&mu_);
  const bool was = deciding_;
  deciding_ = false;
  return was;
}

bool Transaction::NeedsAttention() const {
  absl::MutexLock lock(&mu_);
  return protocol_->needs_attention();
}

std::optional<bool> Transaction::SameBody(const storage::TxnRecord& other) const {
  absl::MutexLock lock(&mu_);
  const storage::TxnRecord& rec = protocol_->record();
  if (!protocol_->payloads_shed()) return settle::engine::SameBody(rec, other);
  if (rec.mode() != other.mode() || rec.branches_size() != other.branches_size()) return false;
  for (int i = 0; i < rec.branches_size(); ++i) {
    if (rec.branches(i).participant() != other.branches(i).participant()) return false;
  }
  return std::nullopt;
}

std::optional<ExecuteResult> Transaction::AddWaiter(bool wait_for_acks, bool replayed,
                                                    ExecuteDone done) {
  absl::MutexLock lock(&mu_);
  if (wait_for_acks ? protocol_->terminal() : protocol_->decided()) {
    ExecuteResult r = protocol_->Result();
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

PrepareCall Transaction::PrepareCallFor(uint32_t branch) const {
  absl::MutexLock lock(&mu_);
  const storage::TxnRecord& rec = protocol_->record();
  PrepareCall call;
  call.ref = {id_, branch};
  call.participant = participants_[branch];
  call.payload = rec.branches(static_cast<int>(branch)).payload();
  call.deadline = deadline_;
  call.three_phase_timeout = absl::Microseconds(rec.three_phase_timeout_micros());
  return call;
}

void Transaction::RecordAnswered(uint32_t branch) {
  absl::MutexLock lock(&mu_);
  delivery_[branch].acked = true;
  delivery_[branch].next_retry = absl::InfinitePast();
}

int Transaction::RecordDeliveryFailure(uint32_t branch, const absl::Status& error) {
  absl::MutexLock lock(&mu_);
  delivery_[branch].last_error = error.ToString();
  return static_cast<int>(++delivery_[branch].attempts);
}

void Transaction::SetNextRetry(uint32_t branch, absl::Time at) {
  absl::MutexLock lock(&mu_);
  delivery_[branch].next_retry = at;
}

uint32_t Transaction::DeliveryAttempts(uint32_t branch) const {
  absl::MutexLock lock(&mu_);
  return delivery_[branch].attempts;
}

void Transaction::ShedPayloadsIfUnneeded() {
  absl::MutexLock lock(&mu_);
  if (!protocol_->needs_payloads()) protocol_->ShedPayloads();
}

bool Transaction::payloads_shed() const {
  absl::MutexLock lock(&mu_);
  return protocol_->payloads_shed();
}

storage::TxnStateRecord Transaction::state() const {
  absl::MutexLock lock(&mu_);
  return protocol_->record().state();
}

Decision Transaction::decision() const {
  absl::MutexLock lock(&mu_);
  return protocol_->decision();
}

ExecuteResult Transaction::Result() const {
  absl::MutexLock lock(&mu_);
  return protocol_->Result();
}

bool Transaction::InDoubt() const {
  absl::MutexLock lock(&mu_);
  return protocol_->decided() && !protocol_->terminal();
}

bool Transaction::Stuck(absl::Time now, absl::Duration stuck_after) const {
  absl::MutexLock lock(&mu_);
  return StuckLocked(now, stuck_after);
}

bool Transaction::StuckLocked(absl::Time now, absl::Duration stuck_after) const {
  if (!protocol_->decided() || protocol_->terminal()) return false;
  return now - absl::FromUnixMicros(protocol_->record().decision_micros()) > stuck_after;
}

TxnSnapshot Transaction::Snapshot(absl::Time now, absl::Duration stuck_after) const {
  absl::MutexLock lock(&mu_);
  return TxnSnapshot{protocol_->record(), delivery_, StuckLocked(now, stuck_after)};
}

}  // namespace settle::engine
