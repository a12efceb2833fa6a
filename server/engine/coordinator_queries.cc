// Queries and operator actions: GetTransaction, List, Abort, GetDecision, Deregister.

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

using internal::StateName;
using storage::TxnIdFor;

namespace {

constexpr int kListMaxExamined = 10000;

bool Matches(const ListParams& params, int64_t begin_after, const storage::TxnRecord& rec) {
  if (rec.begin_micros() < begin_after) return false;
  if (!params.states.empty() &&
      std::find(params.states.begin(), params.states.end(), rec.state()) == params.states.end()) {
    return false;
  }
  return params.participant.empty() ||
         std::any_of(rec.branches().begin(), rec.branches().end(),
                     [&](const storage::BranchRecord& b) {
                       return b.participant() == params.participant;
                     });
}

}  // namespace

// ---- Queries and operator actions ----

Coordinator::TxnPtr Coordinator::FindActive(const std::string& txn_id) const {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(txn_id);
  return it == active_.end() ? nullptr : it->second;
}

absl::StatusOr<TxnSnapshot> Coordinator::GetTransaction(const std::string& txn_id) const {
  if (TxnPtr txn = FindActive(txn_id); txn != nullptr) {
    return txn->Snapshot(clock_.Now(), options_.stuck_after);
  }
  auto rec = log_.Find(txn_id);
  if (!rec.ok()) return rec.status();
  if (!rec->has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "transaction ", Echo(txn_id), " is not known here: it never began at this coordinator, or it "
        "finished longer ago than the retention period"));
  }
  return TxnSnapshot{std::move(**rec), {}, false};
}

absl::StatusOr<TxnSnapshot> Coordinator::GetTransactionByKey(const std::string& key) const {
  {
    absl::MutexLock lock(&mu_);
    auto it = by_key_.find(key);
    if (it != by_key_.end()) return it->second->Snapshot(clock_.Now(), options_.stuck_after);
  }
  auto id = log_.FindTxnIdByKey(key);
  if (!id.ok()) return id.status();
  if (!id->has_value()) {
    return absl::NotFoundError(absl::StrCat("no transaction has idempotency key ", Echo(key),
                                            " (or it is past the retention period)"));
  }
  return GetTransaction(**id);
}

absl::StatusOr<ListResult> Coordinator::List(const ListParams& params) const {
  if (params.page_size < 0 || params.page_size > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size ", params.page_size, " is out of range: use 1 to 1000"));
  }
  const int page_size = params.page_size == 0 ? 100 : params.page_size;
  std::string from;
  if (!params.page_token.empty()) {
    if (params.page_token.rfind(options_.shard + "-", 0) != 0) {
      return absl::InvalidArgumentError(
          "page_token was not returned by this coordinator; start again without one");
    }
    from = params.page_token + '\0';  // The smallest id after the token.
  } else if (params.begin_after != absl::InfinitePast()) {
    from = TxnIdFor(options_.shard, static_cast<uint64_t>(
                                        std::max<int64_t>(0, absl::ToUnixMicros(params.begin_after))));
  }
  const int64_t after = params.begin_after == absl::InfinitePast()
                            ? INT64_MIN
                            : absl::ToUnixMicros(params.begin_after);
  const int64_t before = params.begin_before == absl::InfiniteFuture()
                             ? INT64_MAX
                             : absl::ToUnixMicros(params.begin_before);
  const absl::Time now = clock_.Now();
  // Only non-terminal states asked for: the active set holds every match, and reading it alone
  // costs the same whatever the size of the finished history.
  const bool active_only =
      !params.states.empty() &&
      std::all_of(params.states.begin(), params.states.end(), [](storage::TxnStateRecord s) {
        return s != storage::TXN_COMMITTED && s != storage::TXN_ABORTED;
      });
  ListResult result;
  bool past_end = false;
  int examined = 0;
  auto last = log_.Scan(
      from, active_only ? storage::TxnLog::ScanSet::kActive : storage::TxnLog::ScanSet::kAll,
      /*max_examined=*/0, [&](const storage::TxnRecord& logged) {
        if (logged.begin_micros() >= before) {
          past_end = true;
          return false;
        }
        ++examined;
        TxnSnapshot snap;
        if (TxnPtr txn = FindActive(logged.txn_id()); txn != nullptr) {
          snap = txn->Snapshot(now, options_.stuck_after);  // Fresher than the logged copy.
        } else {
          snap.record = logged;
        }
        if (Matches(params, after, snap.record)) {
          result.transactions.push_back(std::move(snap));
        }
        const int found = static_cast<int>(result.transactions.size());
        // A page ends full, or past the examination bound once it holds a match; it is never
        // empty while a later page would hold one.
        return found < page_size && (found == 0 || examined < kListMaxExamined);
      });
  if (!last.ok()) return last.status();
  if (!past_end) result.next_page_token = *last;
  return result;
}

absl::StatusOr<TxnSnapshot> Coordinator::Abort(const std::string& txn_id,
                                               const std::string& reason) {
  if (reason.size() > 256) {
    return absl::InvalidArgumentError("reason is longer than 256 bytes");
  }
  TxnPtr txn = FindActive(txn_id);
  if (txn == nullptr) {
    auto rec = log_.FindFinished(txn_id);
    if (!rec.ok()) return rec.status();
    if (rec->has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("transaction ", Echo(txn_id), " already finished as ",
                       StateName((*rec)->state()), "; it cannot be aborted"));
    }
    return absl::NotFoundError(absl::StrCat("transaction ", Echo(txn_id), " is not known here"));
  }
  if (!txn->StartAbort(-1, absl::StrCat("aborted by an operator: ",
                                        reason.empty() ? "no reason given" : reason))) {
    return absl::FailedPreconditionError(
        absl::StrCat("transaction ", txn_id, " is already decided (",
                     txn->committing() ? "COMMIT" : "ABORT", "); it cannot be aborted"));
  }
  Log(LogLevel::kInfo, "operator abort", {{"txn", txn_id}, {"reason", reason}});
  LogDecision(txn);
  return txn->Snapshot(clock_.Now(), options_.stuck_after);
}

absl::StatusOr<Decision> Coordinator::GetDecision(const std::string& txn_id) const {
  if (TxnPtr txn = FindActive(txn_id); txn != nullptr) {
    switch (txn->state()) {
      case storage::TXN_COMMITTING:
      case storage::TXN_COMMITTED:
        return Decision::kCommit;
      case storage::TXN_ABORTING:
      case storage::TXN_ABORTED:
        return Decision::kAbort;
      default:
        // Includes a COMMIT being forced right now: it is not a decision until durable.
        return Decision::kUndecided;
    }
  }
  // Not in memory: finished, unknown, or (while recovery loads) active in the log only.
  auto rec = log_.Find(txn_id);
  if (!rec.ok()) return rec.status();
  if (!rec->has_value()) return Decision::kAbort;  // Presumed abort.
  switch ((*rec)->state()) {
    case storage::TXN_COMMITTING:
    case storage::TXN_COMMITTED:
      return Decision::kCommit;
    case storage::TXN_PREPARING:
      return Decision::kUndecided;  // Recovery is about to abort it.
    default:
      return Decision::kAbort;
  }
}

void Coordinator::Deregister(const std::string& name, std::function<void(absl::Status)> done) {
  int users = 0;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, txn] : active_) {
      for (size_t b = 0; b < txn->branch_count(); ++b) {
        if (txn->participant(static_cast<uint32_t>(b)) == name) {
          ++users;
          break;
        }
      }
    }
  }
  if (users > 0) {
    return done(absl::FailedPreconditionError(
        absl::StrCat("participant ", Echo(name), " still has ", users,
                     " active transactions; deregister it once they have finished")));
  }
  registry_.Deregister(name, std::move(done));
}

}  // namespace settle::engine
