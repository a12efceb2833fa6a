// The protocol: Execute, votes, the decision, and its delivery.

#include "server/engine/coordinator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/echo.h"
#include "common/json_log.h"
#include "server/engine/coordinator_internal.h"
#include "storage/txn_id.h"

namespace settle::engine {

using internal::kIdReservation;
using storage::TxnIdFor;

Coordinator::Coordinator(CoordinatorOptions options, storage::TxnLog& log, Registry& registry,
                         Scheduler& scheduler, const Clock& clock, Metrics* metrics)
    : options_(std::move(options)),
      log_(log),
      registry_(registry),
      scheduler_(scheduler),
      clock_(clock),
      metrics_(metrics),
      retry_(options_.retry) {}

Coordinator::~Coordinator() { Stop(); }

void Coordinator::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  mu_.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &rpcs_in_flight_));
}

bool Coordinator::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void Coordinator::RpcStarted() {
  absl::MutexLock lock(&mu_);
  ++rpcs_in_flight_;
}

void Coordinator::RpcEnded() {
  absl::MutexLock lock(&mu_);
  --rpcs_in_flight_;
}

size_t Coordinator::ActiveCount() const {
  absl::MutexLock lock(&mu_);
  return active_.size();
}

// ---- Execute ----

absl::Status Coordinator::Validate(const ExecuteParams& p) const {
  if (p.idempotency_key.empty()) {
    return absl::InvalidArgumentError(
        "idempotency_key is required: give every payment a unique key and reuse it on retries");
  }
  if (p.idempotency_key.size() > options_.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("idempotency_key is ", p.idempotency_key.size(),
                                                   " bytes; the limit is ",
                                                   options_.max_key_bytes));
  }
  if (p.branches.empty()) {
    return absl::InvalidArgumentError("branches is empty: a transaction needs at least one");
  }
  if (static_cast<int>(p.branches.size()) > options_.max_branches) {
    return absl::InvalidArgumentError(absl::StrCat("the transaction has ", p.branches.size(),
                                                   " branches; the limit is ",
                                                   options_.max_branches));
  }
  if (p.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "timeout is required and must be positive, e.g. 5s: it bounds the prepare phase");
  }
  if (p.timeout < absl::Milliseconds(1) || p.timeout > options_.max_txn_timeout) {
    return absl::InvalidArgumentError(absl::StrCat(
        "timeout ", absl::FormatDuration(p.timeout), " is out of range: it must be between 1ms and ",
        absl::FormatDuration(options_.max_txn_timeout), " (--max_txn_timeout)"));
  }
  if (p.mode == 2 || p.mode == 3) {
    return absl::UnimplementedError(absl::StrCat(
        "mode ", p.mode == 2 ? "SAGA" : "THREE_PHASE",
        " is not supported by this coordinator yet; use MODE_TWO_PHASE (or TCC over it)"));
  }
  if (p.mode < 0 || p.mode > 3) {
    return absl::InvalidArgumentError(absl::StrCat("mode ", p.mode, " is not a known mode"));
  }
  for (size_t i = 0; i < p.branches.size(); ++i) {
    const BranchSpec& b = p.branches[i];
    if (b.payload.size() > options_.max_payload_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "branch ", i, " (", b.participant, ") has a ", b.payload.size(),
          "-byte payload; the limit is ", options_.max_payload_bytes, " bytes"));
    }
    if (absl::Status s = Registry::ValidateName(b.participant); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("branch ", i, ": ", s.message()));
    }
    if (!registry_.Contains(b.participant)) {
      return absl::NotFoundError(absl::StrCat(
          "branch ", i, ": participant '", b.participant,
          "' is not registered; register it with `settle register ", b.participant,
          " HOST:PORT` or fix the name"));
    }
  }
  return absl::OkStatus();
}

std::optional<std::string> Coordinator::NextTxnIdLocked() {
  // Ids grow with time and never repeat, across restarts too: the counter starts past the
  // greatest id in the log and past the reserved ceiling, below which every id ever issued
  // lies, including any whose begin record a crash lost.
  const uint64_t now = static_cast<uint64_t>(absl::ToUnixMicros(clock_.Now()));
  const uint64_t next = std::max(now, last_id_counter_ + 1);
  if (next >= id_ceiling_) return std::nullopt;
  last_id_counter_ = next;
  return TxnIdFor(options_.shard, next);
}

void Coordinator::ReserveIds() {
  uint64_t ceiling = 0;
  {
    absl::MutexLock lock(&mu_);
    if (reserving_ids_ || stopping_) return;
    reserving_ids_ = true;
    const uint64_t now = static_cast<uint64_t>(absl::ToUnixMicros(clock_.Now()));
    ceiling = std::max(now, last_id_counter_) + absl::ToInt64Microseconds(kIdReservation);
  }
  storage::LogBatch batch;
  batch.ReserveIds(ceiling);
  log_.Write(std::move(batch), /*sync=*/true, [this, ceiling](absl::Status s) {
    absl::MutexLock lock(&mu_);
    reserving_ids_ = false;
    if (s.ok()) id_ceiling_ = std::max(id_ceiling_, ceiling);
  });
}

void Coordinator::Execute(ExecuteParams p, ExecuteDone done) {
  const absl::Time start = clock_.Now();
  ExecuteDone reply = [this, start, done = std::move(done)](absl::StatusOr<ExecuteResult> r) {
    if (metrics_ != nullptr) {
      metrics_->ExecuteDone(
          r.ok() ? (r->committed ? "committed" : "aborted") : StatusCodeName(r.status().code()),
          clock_.Now() - start);
    }
    done(std::move(r));
  };
  if (stopping()) {
    return reply(absl::UnavailableError("the coordinator is shutting down; retry shortly"));
  }
  if (!recovered_.load(std::memory_order_acquire)) {
    return reply(absl::UnavailableError(
        "the coordinator is recovering its log; retry shortly with the same idempotency key"));
  }
  if (absl::Status s = Validate(p); !s.ok()) return reply(s);

  storage::TxnRecord asked;
  asked.set_idempotency_key(p.idempotency_key);
  asked.set_mode(p.mode == 0 ? 1 : p.mode);
  asked.set_wait_for_acks(p.wait_for_acks);
  asked.set_refused_branch(-1);
  for (auto& b : p.branches) {
    auto* rec = asked.add_branches();
    rec->set_participant(std::move(b.participant));
    rec->set_payload(std::move(b.payload));
    rec->set_state(storage::BRANCH_PENDING);
  }

  // The same key: in memory while active; in the log once finished. Memory is checked on both
  // sides of the log lookup because a transaction leaves memory only after its finish record is
  // written: whichever way a concurrent one moves, one of the three looks sees it.
  TxnPtr existing;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_key_.find(p.idempotency_key);
    if (it != by_key_.end()) existing = it->second;
  }
  if (existing != nullptr) return Join(existing, asked, p.wait_for_acks, true, reply);
  auto logged_id = log_.FindTxnIdByKey(p.idempotency_key);
  if (!logged_id.ok()) return reply(logged_id.status());
  if (logged_id->has_value()) {
    auto rec = log_.FindFinished(**logged_id);
    if (!rec.ok()) return reply(rec.status());
    if (rec->has_value()) return ReplayFinished(**rec, asked, reply);
  }

  // A new payment: each participant it needs must be reachable, or it is refused at once
  // (UNAVAILABLE, naming the participant) instead of joining a backlog of aborts. Replays of a
  // known key above are answered whatever the participants' state.
  for (const auto& b : asked.branches()) {
    if (absl::Status s = registry_.Admit(b.participant(), start); !s.ok()) return reply(s);
  }

  TxnPtr txn;
  storage::TxnRecord begin;
  bool out_of_ids = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_key_.find(p.idempotency_key);
    if (it != by_key_.end()) {
      existing = it->second;
    } else if (deciding_ >= options_.max_in_flight) {
      // Only transactions still deciding count: they hold a caller and participants'
      // reservations. Decided ones waiting for a participant that is down do not, so they
      // never make the coordinator refuse payments that do not need it.
      return reply(absl::ResourceExhaustedError(absl::StrCat(
          "the coordinator has ", deciding_,
          " transactions being decided (--max_in_flight); retry with backoff")));
    } else if (std::optional<std::string> id = NextTxnIdLocked(); !id.has_value()) {
      out_of_ids = true;
    } else {
      begin = std::move(asked);
      begin.set_txn_id(*std::move(id));
      begin.set_state(storage::TXN_PREPARING);
      begin.set_begin_micros(absl::ToUnixMicros(start));
      begin.set_deadline_micros(absl::ToUnixMicros(start + p.timeout));
      txn = std::make_shared<Transaction>(begin);
      active_[txn->id()] = txn;
      by_key_[txn->key()] = txn;
      ++deciding_;
    }
  }
  if (existing != nullptr) return Join(existing, asked, p.wait_for_acks, true, reply);
  if (out_of_ids) {
    ReserveIds();
    return reply(absl::UnavailableError(
        "no transaction id is reserved in the decision log yet (it cannot be written, or the "
        "clock jumped ahead); retry with the same idempotency key"));
  }

  txn->AddWaiter(p.wait_for_acks, false, std::move(reply));
  storage::LogBatch batch;
  batch.Begin(begin);
  // Not forced, and the Prepares do not wait for it: the log writes in queue order, so it lands
  // before the decision, and under presumed abort a begin lost in a crash only means the
  // participants learn ABORT by GetDecision instead of from recovery.
  log_.Write(std::move(batch), /*sync=*/false,
             [txn](absl::Status s) { OnBeginLogged(txn, std::move(s)); });
  SendPrepares(txn);
}

void Coordinator::Join(const TxnPtr& txn, const storage::TxnRecord& asked, bool wait_for_acks,
                       bool replayed, const ExecuteDone& done) {
  std::optional<bool> same = txn->SameBody(asked);
  if (!same.has_value()) {
    // It shed its payloads while waiting for a participant; the logged decision has them.
    auto logged = log_.Find(txn->id());
    if (!logged.ok()) return done(logged.status());
    same = logged->has_value() && SameBody(**logged, asked);
  }
  if (!*same) {
    return done(absl::AlreadyExistsError(absl::StrCat(
        "idempotency key ", Echo(txn->key()), " was used by transaction ", txn->id(),
        " with a different body; use a new key for a new payment")));
  }
  if (auto r = txn->AddWaiter(wait_for_acks, replayed, done); r.has_value()) done(*r);
}

void Coordinator::ReplayFinished(const storage::TxnRecord& rec, const storage::TxnRecord& asked,
                                 const ExecuteDone& done) {
  if (!SameBody(rec, asked)) {
    return done(absl::AlreadyExistsError(absl::StrCat(
        "idempotency key ", Echo(rec.idempotency_key()), " was used by transaction ", rec.txn_id(),
        " with a different body; use a new key for a new payment")));
  }
  ExecuteResult r = ResultFromRecord(rec);
  r.replayed = true;
  done(r);
}

void Coordinator::OnBeginLogged(const TxnPtr& txn, absl::Status status) {
  // The decision record stands alone (LogBatch::Decide), so a lost begin changes nothing
  // while this process lives; the decision's own write reports whether the log works.
  if (!status.ok()) {
    Log(LogLevel::kWarning, "begin record not written; the decision record will carry it",
        {{"txn", txn->id()}, {"error", status.ToString()}});
  }
}

void Coordinator::SendPrepares(const TxnPtr& txn) {
  for (PrepareCall& call : txn->PrepareCalls()) {
    const uint32_t branch = call.ref.branch_id;
    const absl::Time sent = clock_.Now();
    auto channel = registry_.Channel(call.participant);
    if (!channel.ok()) {
      OnVote(txn, branch, sent, channel.status());
      continue;
    }
    RpcStarted();
    (*channel)->Prepare(call, [this, txn, branch, sent](absl::StatusOr<VoteResult> vote) {
      OnVote(txn, branch, sent, vote);
      RpcEnded();
    });
  }
}

void Coordinator::OnVote(const TxnPtr& txn, uint32_t branch, absl::Time sent,
                         const absl::StatusOr<VoteResult>& vote) {
  const absl::Time now = clock_.Now();
  const std::string& participant = txn->participant(branch);
  if (metrics_ != nullptr) {
    metrics_->ParticipantRpc(participant, "Prepare", vote.status().code(), now - sent);
  }
  if (vote.ok()) {
    registry_.RecordSuccess(participant, now);
  } else {
    registry_.RecordFailure(participant, vote.status(), now);
  }
  if (stopping()) return;
  const Transaction::VoteAction action = txn->RecordVote(branch, vote);
  if (action == Transaction::VoteAction::kCommit || action == Transaction::VoteAction::kAbort) {
    LogDecision(txn);
  }
}

void Coordinator::LogDecision(const TxnPtr& txn) {
  const absl::Time now = clock_.Now();
  if (metrics_ != nullptr) metrics_->Phase("prepare", now - txn->begin_time());
  storage::TxnRecord rec = txn->DecisionRecord(now);
  const bool commit = rec.state() == storage::TXN_COMMITTING;
  storage::LogBatch batch;
  batch.Decide(rec);
  // Forced only for COMMIT: a COMMIT must survive any crash before anyone hears of it, and
  // under presumed abort a lost ABORT is aborted again. But no outcome is announced before its
  // record is written: the begin went out with the Prepares unwritten, and a key whose records
  // a crash lost would run again as a new transaction on retry, one that may commit.
  log_.Write(std::move(batch), /*sync=*/commit,
             [this, txn, commit](absl::Status s) { OnDecisionLogged(txn, commit, std::move(s)); });
}

void Coordinator::OnDecisionLogged(const TxnPtr& txn, bool commit, absl::Status status) {
  if (stopping()) return;
  if (status.ok()) {
    if (commit && options_.on_commit_logged_ForTest) options_.on_commit_logged_ForTest(txn->id());
    return DecisionApplied(txn);
  }
  // No Commit was sent and nobody was told. Whether the record reached the disk is unknown, so
  // an ABORT is forced after it; it supersedes a COMMIT in the log either way.
  Log(LogLevel::kError, "decision record not written; aborting",
      {{"txn", txn->id()},
       {"decision", commit ? "commit" : "abort"},
       {"error", status.ToString()}});
  Fail(txn->DecisionNotLogged(absl::StrCat("the decision could not be logged: ", status.message())),
       absl::UnavailableError(absl::StrCat(
           "transaction ", txn->id(), ": the decision log cannot be written (", status.message(),
           "); the transaction is being aborted. Retry with the same idempotency key to read "
           "its outcome")));
  LogForcedAbort(txn);
}

void Coordinator::LogForcedAbort(const TxnPtr& txn) {
  storage::LogBatch batch;
  batch.Decide(txn->DecisionRecord(clock_.Now()));
  log_.Write(std::move(batch), /*sync=*/true, [this, txn](absl::Status s) {
    if (stopping()) return;
    if (s.ok()) return DecisionApplied(txn);
    scheduler_.RunAfter(retry_.options().max, [this, txn] {
      if (!stopping()) LogForcedAbort(txn);
    });
  });
}

void Coordinator::DecisionApplied(const TxnPtr& txn) {
  {
    absl::MutexLock lock(&mu_);
    --deciding_;
  }
  std::vector<ExecuteDone> waiters = txn->ApplyDecision(clock_.Now());
  const ExecuteResult result = txn->Result();
  if (metrics_ != nullptr) metrics_->Decided(txn->mode(), result.committed);
  Log(LogLevel::kDebug, "decided",
      {{"txn", txn->id()}, {"decision", result.committed ? "commit" : "abort"}});
  Complete(std::move(waiters), result);
  const std::vector<uint32_t> branches = txn->BranchesToDeliver();
  if (branches.empty()) return FinishTxn(txn);
  for (uint32_t b : branches) Deliver(txn, b);
}

// ---- Delivery of the decision ----

void Coordinator::Deliver(const TxnPtr& txn, uint32_t branch) {
  if (stopping()) return;
  const absl::Time sent = clock_.Now();
  const std::string& participant = txn->participant(branch);
  if (!registry_.Allow(participant, sent)) {
    // Its circuit is open: wait for a probe to get through instead of adding a call.
    return RetryDelivery(txn, branch,
                         absl::UnavailableError(absl::StrCat("participant '", participant,
                                                             "' is unreachable (circuit open)")),
                         sent);
  }
  auto channel = registry_.Channel(participant);
  if (!channel.ok()) return OnDelivered(txn, branch, sent, channel.status());
  const BranchRef ref{txn->id(), branch};
  const absl::Time deadline = sent + options_.delivery_rpc_timeout;
  auto done = [this, txn, branch, sent](absl::Status s) {
    OnDelivered(txn, branch, sent, std::move(s));
    RpcEnded();
  };
  RpcStarted();
  if (txn->committing()) {
    (*channel)->Commit(ref, deadline, std::move(done));
  } else {
    (*channel)->Abort(ref, deadline, std::move(done));
  }
}

void Coordinator::OnDelivered(const TxnPtr& txn, uint32_t branch, absl::Time sent,
                              absl::Status status) {
  const absl::Time now = clock_.Now();
  const std::string& participant = txn->participant(branch);
  const std::string method = txn->committing() ? "Commit" : "Abort";
  if (metrics_ != nullptr) metrics_->ParticipantRpc(participant, method, status.code(), now - sent);
  if (status.ok()) {
    registry_.RecordSuccess(participant, now);
  } else {
    registry_.RecordFailure(participant, status, now);
  }
  if (stopping()) return;
  if (status.ok()) {
    if (txn->RecordAck(branch)) FinishTxn(txn);
    return;
  }
  RetryDelivery(txn, branch, status, now);
}

void Coordinator::RetryDelivery(const TxnPtr& txn, uint32_t branch, const absl::Status& status,
                                absl::Time now) {
  // Never given up: a decided outcome must reach every participant. The capped, jittered delay
  // keeps a participant that stays down from being flooded; the scheduler holds no thread.
  // While it waits, the transaction keeps only what delivery needs (no payloads).
  const std::string& participant = txn->participant(branch);
  const std::string method = txn->committing() ? "Commit" : "Abort";
  const int attempt = static_cast<int>(txn->DeliveryAttempts(branch)) + 1;
  const absl::Duration delay = retry_.Delay(attempt);
  txn->RecordDeliveryFailure(branch, status, now + delay);
  txn->ShedPayloads();
  if (metrics_ != nullptr) metrics_->DecisionRetry(participant, method);
  if (attempt == 1 || attempt % 20 == 0) {
    Log(LogLevel::kWarning, "decision not delivered; retrying",
        {{"txn", txn->id()},
         {"participant", participant},
         {"method", method},
         {"attempt", absl::StrCat(attempt)},
         {"error", status.ToString()}});
  }
  scheduler_.RunAfter(delay, [this, txn, branch] { Deliver(txn, branch); });
}

void Coordinator::FinishTxn(const TxnPtr& txn) {
  if (stopping()) return;
  const absl::Time now = clock_.Now();
  storage::TxnRecord rec = txn->FinishRecord(now);
  if (txn->payloads_shed()) {
    // The finished record keeps the payloads (a replayed key is compared against them); a
    // transaction that waited for a participant takes them back from its logged decision.
    auto logged = log_.Find(txn->id());
    if (!logged.ok()) {
      scheduler_.RunAfter(retry_.options().max, [this, txn] { FinishTxn(txn); });
      return;
    }
    if (logged->has_value() && (*logged)->branches_size() == rec.branches_size()) {
      for (int i = 0; i < rec.branches_size(); ++i) {
        rec.mutable_branches(i)->set_payload((*logged)->branches(i).payload());
      }
    }
  }
  if (metrics_ != nullptr && rec.finish_micros() == absl::ToUnixMicros(now)) {
    metrics_->Phase(rec.state() == storage::TXN_COMMITTED ? "commit" : "abort",
                    now - absl::FromUnixMicros(rec.decision_micros()));
  }
  storage::LogBatch batch;
  batch.Finish(rec);
  // Not forced: a lost finish record only makes recovery deliver the decision once more, and
  // delivery is idempotent.
  log_.Write(std::move(batch), /*sync=*/false, [this, txn](absl::Status s) {
    if (stopping()) return;
    if (!s.ok()) {
      scheduler_.RunAfter(retry_.options().max, [this, txn] { FinishTxn(txn); });
      return;
    }
    Forget(txn);
    Complete(txn->TakeWaiters(), txn->Result());
  });
}

void Coordinator::Forget(const TxnPtr& txn) {
  absl::MutexLock lock(&mu_);
  active_.erase(txn->id());
  auto it = by_key_.find(txn->key());
  if (it != by_key_.end() && it->second == txn) by_key_.erase(it);
}

void Coordinator::Complete(std::vector<ExecuteDone> waiters, const ExecuteResult& result) {
  for (auto& w : waiters) w(result);
}

void Coordinator::Fail(std::vector<ExecuteDone> waiters, const absl::Status& status) {
  for (auto& w : waiters) w(status);
}

}  // namespace settle::engine
