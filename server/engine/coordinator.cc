// Execute: the front door (validation, idempotency, admission); the executor runs the rest.

#include "server/engine/coordinator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/echo.h"
#include "common/json_log.h"
#include "common/shard_map.h"
#include "server/engine/modes.h"

namespace settle::engine {

Coordinator::Coordinator(CoordinatorOptions options, storage::DecisionLog& log, Registry& registry,
                         Scheduler& scheduler, const Clock& clock, Metrics* metrics,
                         PreviousOwners* previous_owners)
    : options_(std::move(options)),
      log_(log),
      registry_(registry),
      clock_(clock),
      metrics_(metrics),
      previous_owners_(previous_owners),
      ids_(options_.shard, log, clock),
      queries_(options_.shard, options_.stuck_after, log, active_, clock),
      housekeeping_({options_.retention, options_.retention_sweep_interval, options_.stuck_after},
                    log, active_, registry, ids_, scheduler, clock, metrics),
      executor_({options_.delivery_rpc_timeout, options_.max_calls_per_participant, options_.retry,
                 options_.at_point_ForTest},
                log, registry, scheduler, clock, metrics, active_) {}

Coordinator::~Coordinator() { Stop(); }

void Coordinator::Stop() {
  housekeeping_.Stop();
  executor_.Stop();
}

size_t Coordinator::ActiveCount() const { return active_.size(); }

Coordinator::DrainReport Coordinator::Drain(bool start) {
  if (start && !draining_.exchange(true, std::memory_order_acq_rel)) {
    Log(LogLevel::kWarning, "draining: no new payment is admitted", {{"shard", options_.shard}});
  }
  DrainReport report;
  report.draining = draining_.load(std::memory_order_acquire);
  for (const TxnPtr& t : active_.All()) {
    ++report.unfinished;
    report.parked += t->NeedsAttention() ? 1 : 0;
  }
  return report;
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
  const ModeRules& rules = RulesFor(p.mode);
  if (absl::Status s = rules.check_steps(p.mode, p.branches); !s.ok()) return s;
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
  }
  return absl::OkStatus();
}

absl::Status Coordinator::ValidateParticipants(const storage::TxnRecord& asked) const {
  const Mode mode = ModeFromRecord(asked.mode()).value_or(Mode::kTwoPhase);  // Set from a Mode.
  const bool peers_call = RulesFor(mode).branches_call_each_other;
  for (int i = 0; i < asked.branches_size(); ++i) {
    const std::string& name = asked.branches(i).participant();
    if (!registry_.Contains(name)) {
      return absl::NotFoundError(absl::StrCat("branch ", i, ": participant '", name,
                                              "' is not registered; register it with `settle "
                                              "register ",
                                              name, " HOST:PORT` or fix the name"));
    }
    if (peers_call && !registry_.CallableByPeers(name)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "branch ", i, ": participant '", name, "' is reached through RabbitMQ, and ",
          absl::AsciiStrToUpper(absl::StrCat("MODE_", ModeName(mode))),
          " needs every participant on gRPC; use MODE_TWO_PHASE or register it at host:port"));
    }
  }
  return absl::OkStatus();
}

std::optional<int> Coordinator::PreviousOwnerOf(const std::string& key) const {
  if (options_.previous_shard_count <= 0 || options_.shard_count <= 0) return std::nullopt;
  const uint32_t slot = SlotOfKey(key);
  const int before = ShardOfSlot(slot, options_.previous_shard_count);
  const std::string& me = options_.shard;
  if (ShardName(before) == me || ShardName(ShardOfSlot(slot, options_.shard_count)) != me) {
    return std::nullopt;
  }
  return before;
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
  if (executor_.stopping()) {
    return reply(absl::UnavailableError("the coordinator is shutting down; retry shortly"));
  }
  if (!recovered_.load(std::memory_order_acquire)) {
    return reply(absl::UnavailableError(
        "the coordinator is recovering its log; retry shortly with the same idempotency key"));
  }
  if (absl::Status s = Validate(p); !s.ok()) return reply(s);
  // Only while the number of shards changes: the request as the key's previous owner gets it.
  std::optional<int> previous_owner;
  std::optional<ExecuteParams> forwarded;
  if (!p.only_if_known) previous_owner = PreviousOwnerOf(p.idempotency_key);
  if (previous_owner.has_value()) {
    forwarded = p;
    forwarded->only_if_known = true;
  }

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

  // A known key is answered whoever owns it now: a shard keeps answering the keys it ran
  // after the number of shards changed.
  if (AnswerKnownKey(asked, p.wait_for_acks, reply)) return;
  const absl::Status owned = CheckKeyShard(p.idempotency_key);
  if (p.only_if_known) {
    if (!owned.ok()) {
      return reply(absl::NotFoundError(absl::StrCat("idempotency_key ", Echo(p.idempotency_key),
                                                    " is unknown at shard '", options_.shard,
                                                    "', which does not own it")));
    }
    return reply(absl::UnavailableError(absl::StrCat(
        "shard '", options_.shard, "' still owns idempotency_key ", Echo(p.idempotency_key),
        " under --shards=", options_.shard_count,
        ": restart it with the new number of shards before the key's new owner admits it")));
  }
  if (!owned.ok()) return reply(owned);
  if (draining_.load(std::memory_order_acquire)) {
    return reply(absl::UnavailableError(absl::StrCat(
        "shard '", options_.shard,
        "' is draining (its replica is being removed or restarted) and admits no new payment; "
        "retry with the same idempotency key")));
  }
  if (!previous_owner.has_value()) {
    return Admit(std::move(asked), p.timeout, p.wait_for_acks, start, std::move(reply));
  }
  // The key moved here when the number of shards changed: it is admitted only if its previous
  // owner does not know it (and, running with the new count, will not admit it).
  const std::string before = ShardName(*previous_owner);
  if (previous_owners_ == nullptr) {
    return reply(absl::UnavailableError("no way to reach the shards' previous owners"));
  }
  previous_owners_->ExecuteIfKnown(
      *previous_owner, *forwarded,
      [this, before, asked = std::move(asked), timeout = p.timeout, wait = p.wait_for_acks, start,
       reply = std::move(reply)](absl::StatusOr<ExecuteResult> there) mutable {
        if (there.ok()) return reply(std::move(there));
        if (executor_.stopping()) {
          return reply(absl::UnavailableError("the coordinator is shutting down; retry shortly"));
        }
        if (there.status().code() != absl::StatusCode::kNotFound) {
          const absl::StatusCode code =
              there.status().code() == absl::StatusCode::kDeadlineExceeded ||
                      there.status().code() == absl::StatusCode::kCancelled
                  ? absl::StatusCode::kUnavailable
                  : there.status().code();
          return reply(absl::Status(
              code, absl::StrCat("shard '", before,
                                 "', the key's owner before the number of shards changed: ",
                                 there.status().message())));
        }
        // Asked again: the same key may have been admitted here while the question was out.
        if (AnswerKnownKey(asked, wait, reply)) return;
        Admit(std::move(asked), timeout, wait, start, std::move(reply));
      });
}

bool Coordinator::AnswerKnownKey(const storage::TxnRecord& asked, bool wait_for_acks,
                                 const ExecuteDone& reply) {
  // The same key: in memory while active; in the log once finished. Memory is checked on both
  // sides of the log lookup because a transaction leaves memory only after its finish record is
  // written: whichever way a concurrent one moves, one of the three looks sees it.
  const std::string& key = asked.idempotency_key();
  TxnPtr existing = active_.FindByKey(key);
  if (existing != nullptr) {
    Join(existing, asked, wait_for_acks, true, reply);
    return true;
  }
  auto logged_id = log_.FindTxnIdByKey(key);
  if (!logged_id.ok()) {
    reply(logged_id.status());
    return true;
  }
  if (!logged_id->has_value()) return false;
  auto rec = log_.FindFinished(**logged_id);
  if (!rec.ok()) {
    reply(rec.status());
    return true;
  }
  if (!rec->has_value()) return false;
  ReplayFinished(**rec, asked, reply);
  return true;
}

void Coordinator::Admit(storage::TxnRecord asked, absl::Duration timeout, bool wait_for_acks,
                        absl::Time start, ExecuteDone reply) {
  if (absl::Status s = ValidateParticipants(asked); !s.ok()) return reply(s);
  // A new payment: each participant it needs must be reachable, or it is refused at once
  // (UNAVAILABLE, naming the participant) instead of joining a backlog of aborts. Replays of a
  // known key above are answered whatever the participants' state.
  for (const auto& b : asked.branches()) {
    if (absl::Status s = registry_.Admit(b.participant(), start); !s.ok()) return reply(s);
    if (absl::Status s = executor_.CheckCallRoom(b.participant()); !s.ok()) return reply(s);
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
  begin.set_deadline_micros(absl::ToUnixMicros(start + timeout));
  auto protocol = MakeProtocol(begin, options_.protocol);
  if (!protocol.ok()) return reply(protocol.status());
  auto txn = std::make_shared<Transaction>(*std::move(protocol));
  TxnPtr existing;
  switch (active_.Add(txn, options_.max_in_flight, &existing)) {
    case ActiveSet::AddResult::kKeyInUse:
      return Join(existing, begin, wait_for_acks, true, reply);
    case ActiveSet::AddResult::kFull:
      return reply(absl::ResourceExhaustedError(absl::StrCat(
          "the coordinator has ", active_.deciding(),
          " transactions being decided (--max_in_flight); retry with backoff")));
    case ActiveSet::AddResult::kAdded:
      break;
  }
  txn->AddWaiter(wait_for_acks, false, std::move(reply));
  executor_.Drive(txn, [&](Protocol& pr) { return pr.Start(start); });
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

}  // namespace settle::engine
