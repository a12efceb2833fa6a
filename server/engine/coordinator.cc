// Execute, and the executor of the protocols' actions.

#include "server/engine/coordinator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/echo.h"
#include "common/json_log.h"

namespace settle::engine {

Coordinator::Coordinator(CoordinatorOptions options, storage::DecisionLog& log,
                         Registry& registry, Scheduler& scheduler, const Clock& clock,
                         Metrics* metrics)
    : options_(std::move(options)),
      log_(log),
      registry_(registry),
      scheduler_(scheduler),
      clock_(clock),
      metrics_(metrics),
      retry_(options_.retry),
      ids_(options_.shard, log, clock),
      queries_(options_.shard, options_.stuck_after, log, active_, clock),
      housekeeping_({options_.retention, options_.retention_sweep_interval, options_.stuck_after},
                    log, active_, registry, ids_, scheduler, clock, metrics) {}

Coordinator::~Coordinator() { Stop(); }

void Coordinator::Stop() {
  housekeeping_.Stop();
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  mu_.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &rpcs_in_flight_));
}

bool Coordinator::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

bool Coordinator::RpcStarted(const std::string& participant) {
  absl::MutexLock lock(&mu_);
  int& calls = calls_in_flight_[participant];
  if (calls >= options_.max_calls_per_participant) return false;
  ++calls;
  ++rpcs_in_flight_;
  return true;
}

void Coordinator::RpcEnded(const std::string& participant) {
  absl::MutexLock lock(&mu_);
  if (--calls_in_flight_[participant] == 0) calls_in_flight_.erase(participant);
  --rpcs_in_flight_;
}

absl::Status Coordinator::CheckCallRoom(const std::string& participant) const {
  absl::MutexLock lock(&mu_);
  auto it = calls_in_flight_.find(participant);
  if (it == calls_in_flight_.end() || it->second < options_.max_calls_per_participant) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "participant '", participant, "' has ", it->second,
      " calls in flight (--max_calls_per_participant); retry with backoff"));
}

size_t Coordinator::ActiveCount() const { return active_.size(); }

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
  if (absl::Status s = ValidateSteps(p); !s.ok()) return s;
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
    if (p.mode == Mode::kThreePhase && absl::StartsWith(registry_.Endpoint(b.participant), "amqp:")) {
      // The termination protocol has the branches ask each other over gRPC.
      return absl::FailedPreconditionError(absl::StrCat(
          "branch ", i, ": participant '", b.participant,
          "' is reached through RabbitMQ, and MODE_THREE_PHASE needs every participant on gRPC; "
          "use MODE_TWO_PHASE or register it at host:port"));
    }
  }
  return absl::OkStatus();
}

absl::Status Coordinator::ValidateSteps(const ExecuteParams& p) {
  uint32_t last = 0;
  for (const BranchSpec& b : p.branches) last = std::max(last, b.step);
  if (p.mode != Mode::kSaga) {
    if (last == 0) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "branches carry steps (up to ", last, "), which only MODE_SAGA orders; leave step 0 for ",
        ModeName(p.mode)));
  }
  // Steps run in order 0, 1, 2...: a gap would be a step with nothing to do.
  std::vector<bool> used(last + 1, false);
  for (const BranchSpec& b : p.branches) used[b.step] = true;
  for (uint32_t s = 0; s <= last; ++s) {
    if (!used[s]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "saga steps must run 0, 1, 2... without gaps; no branch has step ", s,
          " but one has step ", last));
    }
  }
  return absl::OkStatus();
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
  asked.set_mode(ModeToRecord(p.mode));
  asked.set_wait_for_acks(p.wait_for_acks);
  asked.set_refused_branch(-1);
  for (auto& b : p.branches) {
    auto* rec = asked.add_branches();
    rec->set_participant(std::move(b.participant));
    rec->set_payload(std::move(b.payload));
    rec->set_state(storage::BRANCH_PENDING);
    rec->set_step(b.step);
  }

  // The same key: in memory while active; in the log once finished. Memory is checked on both
  // sides of the log lookup because a transaction leaves memory only after its finish record is
  // written: whichever way a concurrent one moves, one of the three looks sees it.
  TxnPtr existing = active_.FindByKey(p.idempotency_key);
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
    if (absl::Status s = CheckCallRoom(b.participant()); !s.ok()) return reply(s);
  }

  std::optional<std::string> id = ids_.Next();
  if (!id.has_value()) {
    ids_.Reserve();
    return reply(absl::UnavailableError(
        "no transaction id is reserved in the decision log yet (it cannot be written, or the "
        "clock jumped ahead); retry with the same idempotency key"));
  }
  storage::TxnRecord begin = std::move(asked);
  begin.set_txn_id(*std::move(id));
  begin.set_state(storage::TXN_PREPARING);
  begin.set_begin_micros(absl::ToUnixMicros(start));
  begin.set_deadline_micros(absl::ToUnixMicros(start + p.timeout));
  auto protocol = Protocol::For(begin, options_.protocol);
  if (!protocol.ok()) return reply(protocol.status());
  auto txn = std::make_shared<Transaction>(*std::move(protocol));
  switch (active_.Add(txn, options_.max_in_flight, &existing)) {
    case ActiveSet::AddResult::kKeyInUse:
      return Join(existing, begin, p.wait_for_acks, true, reply);
    case ActiveSet::AddResult::kFull:
      return reply(absl::ResourceExhaustedError(absl::StrCat(
          "the coordinator has ", active_.deciding(),
          " transactions being decided (--max_in_flight); retry with backoff")));
    case ActiveSet::AddResult::kAdded:
      break;
  }
  txn->AddWaiter(p.wait_for_acks, false, std::move(reply));
  Drive(txn, [&](Protocol& pr) { return pr.Start(start); });
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

// ---- The executor ----

void Coordinator::Drive(const TxnPtr& txn, const std::function<Actions(Protocol&)>& event) {
  if (stopping()) return;
  Run(txn, txn->Apply(event));
}

void Coordinator::Run(const TxnPtr& txn, Step step) {
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

void Coordinator::Write(const TxnPtr& txn, WriteAction w) {
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

void Coordinator::OnWritten(const TxnPtr& txn, RecordKind kind, storage::TxnStateRecord state,
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

void Coordinator::Send(const TxnPtr& txn, SendAction send) {
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

void Coordinator::Call(const TxnPtr& txn, uint32_t branch, Phase phase) {
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
    if (call.three_phase_timeout > absl::ZeroDuration()) {
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

void Coordinator::OnAnswer(const TxnPtr& txn, uint32_t branch, Phase phase, absl::Time sent,
                           Answer answer, bool reached) {
  const absl::Time now = clock_.Now();
  const std::string& participant = txn->participant(branch);
  const std::string method = PhaseName(phase);
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
