#include "client/barrier.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/echo.h"
#include "storage/txn_id.h"

namespace settle::sdk::internal {

using storage::BarrierRecord;
using storage::Space;

// The savepoint's statements fail only with the unit's SQL transaction, which the store then
// rolls back whole: their errors need no handling here.
StagingView::StagingView(storage::WorkView& base) : base_(base) {
  if (base_.sql() != nullptr) base_.sql()->Exec("SAVEPOINT settle_handler", {}).IgnoreError();
}

StagingView::~StagingView() {
  if (!ended_) Discard();
}

void StagingView::Discard() {
  ended_ = true;
  writes_.clear();
  if (base_.sql() != nullptr) {
    base_.sql()->Exec("ROLLBACK TO SAVEPOINT settle_handler", {}).IgnoreError();
  }
}

absl::StatusOr<std::optional<std::string>> StagingView::Get(Space space, const std::string& key) {
  auto it = writes_.find({space, key});
  if (it != writes_.end()) return it->second;
  return base_.Get(space, key);
}

void StagingView::Put(Space space, const std::string& key, const std::string& value) {
  writes_[{space, key}] = value;
}

void StagingView::Delete(Space space, const std::string& key) {
  writes_[{space, key}] = std::nullopt;
}

void StagingView::Apply() {
  // No RELEASE: the savepoint ends with the unit's COMMIT anyway, a round trip later.
  ended_ = true;
  for (const auto& [where, value] : writes_) {
    if (value.has_value()) {
      base_.Put(where.first, where.second, *value);
    } else {
      base_.Delete(where.first, where.second);
    }
  }
}

absl::StatusOr<std::optional<BarrierRecord>> ReadBarrier(storage::WorkView& view,
                                                         const std::string& key) {
  auto raw = view.Get(Space::kBarrier, key);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::nullopt;
  BarrierRecord rec;
  if (!rec.ParseFromString(**raw)) {
    return absl::DataLossError(absl::StrCat("barrier record ", key, " is unreadable"));
  }
  return std::optional<BarrierRecord>(std::move(rec));
}

void WriteBarrier(storage::WorkView& view, const std::string& key, BarrierRecord rec,
                  absl::Time now) {
  rec.set_update_micros(absl::ToUnixMicros(now));
  view.Put(Space::kBarrier, key, rec.SerializeAsString());
}

// The edge: a request's ids are checked before any work. A branch id past this is no branch of
// any transaction (the coordinator allows at most a few dozen).
constexpr uint32_t kMaxBranchId = 1023;

absl::Status CheckBranch(const std::string& txn_id, uint32_t branch_id) {
  if (txn_id.empty()) return absl::InvalidArgumentError("txn_id is required and was empty");
  const auto parts = storage::ParseTxnId(txn_id);
  if (txn_id.size() > 64 || !parts.has_value() || !storage::ValidShardName(parts->shard)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "txn_id ", Echo(txn_id), " is not a Settle transaction id (<shard>-<16 hex digits>)"));
  }
  if (branch_id > kMaxBranchId) {
    return absl::InvalidArgumentError(
        absl::StrCat("branch_id ", branch_id, " is out of range: at most ", kMaxBranchId));
  }
  return absl::OkStatus();
}

bool ReadBarrierFor(storage::WorkView& view, const std::string& key,
                    std::optional<BarrierRecord>* rec, UnitResult& out) {
  auto read = ReadBarrier(view, key);
  if (!read.ok()) {
    out.error = read.status();
    return false;
  }
  *rec = *std::move(read);
  return true;
}

void WriteTombstone(storage::WorkView& view, const std::string& key, absl::Time now,
                    UnitResult& out) {
  BarrierRecord rec;
  rec.set_state(storage::BARRIER_ABORTED);
  rec.set_tombstone(true);
  out.effect = "tombstone";
  WriteBarrier(view, key, std::move(rec), now);
}

bool ParseBarrierKey(const std::string& key, std::string* txn_id, uint32_t* branch_id) {
  const size_t slash = key.rfind('/');
  if (slash == std::string::npos || !absl::SimpleAtoi(key.substr(slash + 1), branch_id)) {
    return false;
  }
  *txn_id = key.substr(0, slash);
  return true;
}

// A ListBranches token is the barrier key of the last branch listed: "<txn_id>/<5 digits>".
absl::Status CheckPageToken(const std::string& token) {
  if (token.empty()) return absl::OkStatus();
  std::string txn_id;
  uint32_t branch = 0;
  if (!ParseBarrierKey(token, &txn_id, &branch) || token.size() - txn_id.size() != 6 ||
      !CheckBranch(txn_id, branch).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token ", Echo(token), " was not returned by ListBranches; start without one"));
  }
  return absl::OkStatus();
}

// A call meant for another participant: the coordinator's registration points here by mistake.
// A call that names none (a tool's, a test's) is taken as meant here.
absl::Status CheckParticipant(const std::string& expected, const std::string& named) {
  if (expected.empty() || named.empty() || named == expected) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "participant ", Echo(named), " is not this service ('", expected,
      "'); the coordinator's registration of that name points here by mistake"));
}

}  // namespace settle::sdk::internal
