#include "server/engine/id_allocator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/echo.h"
#include "common/json_log.h"
#include "storage/txn_id.h"

namespace settle::engine {

IdAllocator::IdAllocator(std::string shard, storage::DecisionLog& log, const Clock& clock)
    : shard_(std::move(shard)), log_(log), clock_(clock) {}

uint64_t IdAllocator::NowMicros() const {
  return static_cast<uint64_t>(absl::ToUnixMicros(clock_.Now()));
}

absl::Status IdAllocator::CheckOwner() const {
  auto claimed = log_.ClaimedShard();
  if (!claimed.ok()) return claimed.status();
  std::string owner = *claimed;
  if (owner.empty()) {
    auto max_id = log_.MaxTxnId();
    if (!max_id.ok()) return max_id.status();
    if (const auto parts = storage::ParseTxnId(*max_id); parts.has_value()) {
      owner = std::string(parts->shard);
    }
  }
  if (owner.empty() || owner == shard_) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "this log belongs to shard ", Echo(owner), ", and this coordinator is shard '", shard_,
      "': start shard ", Echo(owner), " on it, or give each shard its own log"));
}

absl::Status IdAllocator::Load() {
  auto max_id = log_.MaxTxnId();
  if (!max_id.ok()) return max_id.status();
  uint64_t counter = 0;
  if (!max_id->empty()) {
    const auto parts = storage::ParseTxnId(*max_id);
    if (!parts.has_value()) {
      return absl::DataLossError(
          absl::StrCat("the log holds a malformed transaction id '", *max_id, "'"));
    }
    counter = parts->counter;
  }
  // Past the last reserved ceiling too: ids issued before a crash whose begin records were lost
  // are below it, whatever the clock says now.
  auto ceiling = log_.IdCeiling();
  if (!ceiling.ok()) return ceiling.status();
  counter = std::max(counter, *ceiling);
  const uint64_t reserved =
      std::max(NowMicros(), counter) + absl::ToInt64Microseconds(kReservation);
  storage::LogBatch batch;
  batch.ReserveIds(reserved);
  batch.ClaimShard(shard_);
  const absl::Status written = log_.WriteAndWait(std::move(batch), /*sync=*/true);
  absl::MutexLock lock(&mu_);
  last_counter_ = counter;
  if (written.ok()) {
    ceiling_ = reserved;
  } else {
    Log(LogLevel::kWarning, "cannot reserve transaction ids; Execute waits for the log",
        {{"error", written.ToString()}});
  }
  return absl::OkStatus();
}

std::optional<std::string> IdAllocator::Next() {
  absl::MutexLock lock(&mu_);
  const uint64_t next = std::max(NowMicros(), last_counter_ + 1);
  if (next >= ceiling_) return std::nullopt;
  last_counter_ = next;
  return storage::TxnIdFor(shard_, next);
}

void IdAllocator::Reserve() {
  uint64_t ceiling = 0;
  {
    absl::MutexLock lock(&mu_);
    if (reserving_) return;
    reserving_ = true;
    ceiling = std::max(NowMicros(), last_counter_) + absl::ToInt64Microseconds(kReservation);
  }
  storage::LogBatch batch;
  batch.ReserveIds(ceiling);
  batch.ClaimShard(shard_);
  log_.Write(std::move(batch), /*sync=*/true, [this, ceiling](absl::Status s) {
    absl::MutexLock lock(&mu_);
    reserving_ = false;
    if (s.ok()) ceiling_ = std::max(ceiling_, ceiling);
  });
}

}  // namespace settle::engine
