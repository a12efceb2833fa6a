// Read-only questions: GetTransaction, ListTransactions, GetDecision.

#include "server/engine/txn_queries.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/echo.h"
#include "server/engine/modes.h"
#include "storage/txn_id.h"

namespace settle::engine {

using storage::TxnIdFor;

namespace {

constexpr int kListMaxExamined = 10000;

bool Matches(const ListParams& params, int64_t begin_after, const TxnSnapshot& snap) {
  const storage::TxnRecord& rec = snap.record;
  if (rec.begin_micros() < begin_after) return false;
  if (params.stuck_only && !snap.stuck) return false;
  if (params.mode.has_value() && rec.mode() != *params.mode) return false;
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

TxnQueries::TxnQueries(std::string shard, absl::Duration stuck_after,
                       const storage::DecisionLog& log, const ActiveSet& active,
                       const Clock& clock)
    : shard_(std::move(shard)),
      stuck_after_(stuck_after),
      log_(log),
      active_(active),
      clock_(clock) {}

absl::StatusOr<TxnSnapshot> TxnQueries::Get(const std::string& txn_id) const {
  if (TxnPtr txn = active_.Find(txn_id); txn != nullptr) {
    return txn->Snapshot(clock_.Now(), stuck_after_);
  }
  auto rec = log_.Find(txn_id);
  if (!rec.ok()) return rec.status();
  if (!rec->has_value()) {
    return absl::NotFoundError(
        absl::StrCat("txn_id ", Echo(txn_id),
                     " names no transaction known here: it never began at this "
                     "coordinator, or it finished longer ago than the retention period"));
  }
  return TxnSnapshot{std::move(**rec), {}, false};
}

absl::StatusOr<TxnSnapshot> TxnQueries::GetByKey(const std::string& key) const {
  if (TxnPtr txn = active_.FindByKey(key); txn != nullptr) {
    return txn->Snapshot(clock_.Now(), stuck_after_);
  }
  auto id = log_.FindTxnIdByKey(key);
  if (!id.ok()) return id.status();
  if (!id->has_value()) {
    return absl::NotFoundError(absl::StrCat("idempotency_key ", Echo(key),
                                            ": no transaction has it (or it is past the retention "
                                            "period)"));
  }
  return Get(**id);
}

absl::StatusOr<ListResult> TxnQueries::List(const ListParams& params) const {
  if (params.page_size < 0 || params.page_size > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size ", params.page_size, " is out of range: use 1 to 1000"));
  }
  const int page_size = params.page_size == 0 ? 100 : params.page_size;
  std::string from;
  if (!params.page_token.empty()) {
    if (params.page_token.rfind(shard_ + "-", 0) != 0) {
      return absl::InvalidArgumentError(
          "page_token was not returned by this coordinator; start again without one");
    }
    from = params.page_token + '\0';  // The smallest id after the token.
  } else if (params.begin_after != absl::InfinitePast()) {
    from = TxnIdFor(shard_, static_cast<uint64_t>(
                                        std::max<int64_t>(0, absl::ToUnixMicros(params.begin_after))));
  }
  const int64_t after = params.begin_after == absl::InfinitePast()
                            ? INT64_MIN
                            : absl::ToUnixMicros(params.begin_after);
  const int64_t before = params.begin_before == absl::InfiniteFuture()
                             ? INT64_MAX
                             : absl::ToUnixMicros(params.begin_before);
  const absl::Time now = clock_.Now();
  // Only non-terminal states (or stuck ones) asked for: the active set holds every match, and
  // reading it alone costs the same whatever the size of the finished history.
  const bool only_unfinished_states =
      !params.states.empty() &&
      std::all_of(params.states.begin(), params.states.end(), [](storage::TxnStateRecord s) {
        return s != storage::TXN_COMMITTED && s != storage::TXN_ABORTED;
      });
  const bool active_only = params.stuck_only || only_unfinished_states;
  ListResult result;
  bool past_end = false;
  int examined = 0;
  auto last = log_.Scan(
      from, active_only ? storage::ScanSet::kActive : storage::ScanSet::kAll,
      /*max_examined=*/0, [&](const storage::TxnRecord& logged) {
        if (logged.begin_micros() >= before) {
          past_end = true;
          return false;
        }
        ++examined;
        TxnSnapshot snap;
        if (TxnPtr txn = active_.Find(logged.txn_id()); txn != nullptr) {
          snap = txn->Snapshot(now, stuck_after_);  // Fresher than the logged copy.
        } else {
          snap.record = logged;
        }
        if (Matches(params, after, snap)) {
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

absl::StatusOr<Decision> TxnQueries::GetDecision(const std::string& txn_id) const {
  if (TxnPtr txn = active_.Find(txn_id); txn != nullptr) return txn->decision();
  // Not in memory: finished, unknown, or (while recovery loads) active in the log only, where
  // an undecided one is about to be resumed. Its protocol reads the record.
  auto rec = log_.Find(txn_id);
  if (!rec.ok()) return rec.status();
  if (!rec->has_value()) return Decision::kAbort;  // Presumed abort.
  auto protocol = MakeProtocol(**std::move(rec));
  if (!protocol.ok()) return protocol.status();
  return (*protocol)->decision();
}

}  // namespace settle::engine
