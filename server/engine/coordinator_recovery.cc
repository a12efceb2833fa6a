// Start-up recovery, operator actions, and the queries the coordinator hands to TxnQueries.

#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/echo.h"
#include "common/json_log.h"
#include "common/shard_map.h"
#include "server/engine/coordinator.h"
#include "server/engine/modes.h"
#include "storage/txn_id.h"

namespace settle::engine {

// ---- Start-up ----

absl::Status Coordinator::Recover() {
  if (absl::Status s = ids_.CheckOwner(); !s.ok()) return s;
  if (absl::Status s = registry_.Load(); !s.ok()) return s;
  auto active = log_.LoadActive();
  if (!active.ok()) return active.status();
  std::vector<TxnPtr> to_resume;
  for (auto& rec : *active) {
    auto protocol = MakeProtocol(std::move(rec), options_.protocol);
    if (!protocol.ok()) {
      return absl::DataLossError(absl::StrCat("the log holds an active transaction this "
                                              "coordinator cannot resume: ",
                                              protocol.status().message()));
    }
    auto txn = std::make_shared<Transaction>(*std::move(protocol));
    TxnPtr existing;
    // Counted as deciding until its protocol reports the outcome durable, which every resumed
    // transaction does.
    active_.Add(txn, /*max_deciding=*/INT32_MAX, &existing);
    to_resume.push_back(std::move(txn));
  }
  // One line per transaction only at debug level: a restart after an outage may find
  // thousands, and the summary below is what an operator reads.
  absl::flat_hash_map<std::string, int> by_state;
  for (const TxnPtr& txn : to_resume) {
    const std::string state(TxnStateName(txn->state()));
    ++by_state[state];
    if (metrics_ != nullptr) metrics_->Recovered(state);
    Log(LogLevel::kDebug, "recovering transaction", {{"txn", txn->id()}, {"state", state}});
    executor_.Drive(txn, [&](Protocol& p) { return p.Resume(clock_.Now()); });
  }
  Log(LogLevel::kInfo, "recovery started",
      {{"active_transactions", absl::StrCat(to_resume.size())},
       {"preparing", absl::StrCat(by_state["preparing"])},
       {"precommitting", absl::StrCat(by_state["precommitting"])},
       {"committing", absl::StrCat(by_state["committing"])},
       {"aborting", absl::StrCat(by_state["aborting"])},
       {"compensating", absl::StrCat(by_state["compensating"])},
       {"needs_attention", absl::StrCat(by_state["needs_attention"])}});
  // Ids after the transactions: the first reservation before Execute is served; should it
  // fail, Execute answers UNAVAILABLE until a renewal succeeds.
  if (absl::Status s = ids_.Load(); !s.ok()) return s;
  housekeeping_.Start();
  recovered_.store(true, std::memory_order_release);
  return absl::OkStatus();
}

// ---- Operator actions ----

absl::StatusOr<TxnSnapshot> Coordinator::Abort(const std::string& txn_id,
                                               const std::string& reason) {
  if (absl::Status s = CheckShard(txn_id); !s.ok()) return s;
  if (reason.size() > 256) {
    return absl::InvalidArgumentError("reason is longer than 256 bytes");
  }
  TxnPtr txn = active_.Find(txn_id);
  if (txn == nullptr) {
    auto rec = log_.FindFinished(txn_id);
    if (!rec.ok()) return rec.status();
    if (rec->has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("transaction ", Echo(txn_id), " already finished as ",
                       TxnStateName((*rec)->state()), "; it cannot be aborted"));
    }
    return absl::NotFoundError(absl::StrCat("transaction ", Echo(txn_id), " is not known here"));
  }
  const absl::Time now = clock_.Now();
  absl::StatusOr<Step> step =
      txn->ApplyOperator([&](Protocol& p) { return p.OnOperatorAbort(reason, now); });
  if (!step.ok()) return step.status();
  Log(LogLevel::kInfo, "operator abort", {{"txn", txn_id}, {"reason", reason}});
  executor_.Run(txn, *std::move(step));
  return txn->Snapshot(clock_.Now(), options_.stuck_after);
}

absl::StatusOr<TxnSnapshot> Coordinator::Operate(
    const std::string& txn_id, const char* action, const std::string& who,
    const std::string& reason,
    const std::function<absl::StatusOr<Actions>(Protocol&, absl::Time)>& command) {
  if (absl::Status s = CheckShard(txn_id); !s.ok()) return s;
  if (reason.size() > 256) return absl::InvalidArgumentError("reason is longer than 256 bytes");
  if (who.size() > 256) return absl::InvalidArgumentError("who is longer than 256 bytes");
  TxnPtr txn = active_.Find(txn_id);
  if (txn == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "transaction ", Echo(txn_id), " is not active here; only a parked saga can be ", action));
  }
  const absl::Time now = clock_.Now();
  absl::StatusOr<Step> step = txn->ApplyOperator([&](Protocol& p) { return command(p, now); });
  if (!step.ok()) return step.status();
  Log(LogLevel::kInfo, "operator action",
      {{"txn", txn_id}, {"action", action}, {"who", who}, {"reason", reason}});
  executor_.Run(txn, *std::move(step));
  return txn->Snapshot(clock_.Now(), options_.stuck_after);
}

absl::StatusOr<TxnSnapshot> Coordinator::RetryParked(const std::string& txn_id,
                                                     const std::string& who,
                                                     const std::string& reason) {
  return Operate(txn_id, "retried", who, reason, [&](Protocol& p, absl::Time now) {
    return p.OnOperatorRetry(who, reason, now);
  });
}

absl::StatusOr<TxnSnapshot> Coordinator::Resolve(const std::string& txn_id,
                                                 const std::string& who,
                                                 const std::string& reason) {
  return Operate(txn_id, "resolved", who, reason, [&](Protocol& p, absl::Time now) {
    return p.OnOperatorResolve(who, reason, now);
  });
}

void Coordinator::Deregister(const std::string& name, std::function<void(absl::Status)> done) {
  if (const int users = active_.CountUsing(name); users > 0) {
    return done(absl::FailedPreconditionError(
        absl::StrCat("participant ", Echo(name), " still has ", users,
                     " active transactions; deregister it once they have finished")));
  }
  registry_.Deregister(name, std::move(done));
}

// ---- Queries ----

absl::Status Coordinator::CheckShard(const std::string& txn_id) const {
  const auto parts = storage::ParseTxnId(txn_id);
  // An id in no shard's form is unknown everywhere; the usual answers apply.
  if (!parts.has_value() || parts->shard == options_.shard ||
      !storage::ValidShardName(parts->shard)) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("txn_id '", txn_id, "' belongs to shard '", parts->shard,
                   "', and this coordinator is shard '", options_.shard, "': ask shard '",
                   parts->shard, "'"));
}

absl::Status Coordinator::CheckKeyShard(const std::string& key) const {
  if (options_.shard_count <= 0) return absl::OkStatus();
  const uint32_t slot = SlotOfKey(key);
  const std::string owner = ShardName(ShardOfSlot(slot, options_.shard_count));
  if (owner == options_.shard) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "idempotency_key ", Echo(key), " belongs to shard '", owner, "' (slot ", slot, " of ",
      kShardSlots, " over ", options_.shard_count, " shards), and this coordinator is shard '",
      options_.shard, "': route by the key (common/shard_map.h) with the same shard list"));
}

absl::StatusOr<TxnSnapshot> Coordinator::GetTransaction(const std::string& txn_id) const {
  if (absl::Status s = CheckShard(txn_id); !s.ok()) return s;
  return queries_.Get(txn_id);
}

absl::StatusOr<TxnSnapshot> Coordinator::GetTransactionByKey(const std::string& key) const {
  // A known key is answered whoever owns it now (the number of shards may have changed).
  absl::StatusOr<TxnSnapshot> snap = queries_.GetByKey(key);
  if (snap.ok() || snap.status().code() != absl::StatusCode::kNotFound) return snap;
  if (absl::Status s = CheckKeyShard(key); !s.ok()) return s;
  if (std::optional<int> before = PreviousOwnerOf(key); before.has_value()) {
    return absl::NotFoundError(absl::StrCat(snap.status().message(), "; shard '",
                                            ShardName(*before),
                                            "' owned it before the number of shards changed "
                                            "and may know it"));
  }
  return snap;
}

absl::StatusOr<ListResult> Coordinator::List(const ListParams& params) const {
  return queries_.List(params);
}

absl::StatusOr<Decision> Coordinator::GetDecision(const std::string& txn_id) const {
  if (absl::Status s = CheckShard(txn_id); !s.ok()) return s;
  return queries_.GetDecision(txn_id);
}

}  // namespace settle::engine
