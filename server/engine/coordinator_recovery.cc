// Start-up recovery and the background sweeps (gauges, retention).

#include "server/engine/coordinator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/json_log.h"
#include "server/engine/coordinator_internal.h"
#include "storage/txn_id.h"

namespace settle::engine {

using internal::kIdRenewInterval;
using internal::kIdReservation;
using internal::StateName;

namespace {

constexpr absl::Duration kGaugeInterval = absl::Seconds(1);
// Small enough that one batch's write (two deletes per transaction) costs the writer about a
// millisecond; the pause between batches lets the scheduler's other work run.
constexpr int kRetentionBatch = 1000;
constexpr absl::Duration kRetentionBatchGap = absl::Milliseconds(5);

}  // namespace

// ---- Start-up ----

absl::Status Coordinator::Recover() {
  if (absl::Status s = registry_.Load(); !s.ok()) return s;
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
  auto active = log_.LoadActive();
  if (!active.ok()) return active.status();
  std::vector<TxnPtr> to_resume;
  {
    absl::MutexLock lock(&mu_);
    last_id_counter_ = counter;
    for (auto& rec : *active) {
      auto txn = std::make_shared<Transaction>(std::move(rec));
      active_[txn->id()] = txn;
      by_key_[txn->key()] = txn;
      ++deciding_;  // Until DecisionApplied, which every resumed transaction reaches.
      to_resume.push_back(std::move(txn));
    }
  }
  // One line per transaction only at debug level: a restart after an outage may find
  // thousands, and the summary below is what an operator reads.
  int undecided = 0, committing = 0, aborting = 0;
  for (const TxnPtr& txn : to_resume) {
    const storage::TxnStateRecord state = txn->state();
    if (metrics_ != nullptr) metrics_->Recovered(StateName(state));
    Log(LogLevel::kDebug, "recovering transaction",
        {{"txn", txn->id()}, {"state", StateName(state)}});
    if (state == storage::TXN_PREPARING || state == storage::TXN_UNKNOWN) {
      // No decision reached the log, so none was ever announced: presumed abort.
      ++undecided;
      txn->StartAbort(-1, "the coordinator restarted before the transaction was decided");
      LogDecision(txn);
    } else {
      ++(state == storage::TXN_COMMITTING ? committing : aborting);
      txn->RestoreDecided();
      DecisionApplied(txn);
    }
  }
  Log(LogLevel::kInfo, "recovery started",
      {{"active_transactions", absl::StrCat(to_resume.size())},
       {"undecided_aborting", absl::StrCat(undecided)},
       {"committing", absl::StrCat(committing)},
       {"aborting", absl::StrCat(aborting)}});
  // The first reservation before Execute is served; should it fail, Execute answers
  // UNAVAILABLE until a renewal succeeds.
  storage::LogBatch reserve;
  const uint64_t now = static_cast<uint64_t>(absl::ToUnixMicros(clock_.Now()));
  const uint64_t reserved = std::max(now, counter) + absl::ToInt64Microseconds(kIdReservation);
  reserve.ReserveIds(reserved);
  if (absl::Status s = log_.WriteAndWait(std::move(reserve), /*sync=*/true); s.ok()) {
    absl::MutexLock lock(&mu_);
    id_ceiling_ = reserved;
  } else {
    Log(LogLevel::kWarning, "cannot reserve transaction ids; Execute waits for the log",
        {{"error", s.ToString()}});
  }
  ScheduleSweeps();
  recovered_.store(true, std::memory_order_release);
  return absl::OkStatus();
}

// ---- Background work ----

void Coordinator::ScheduleSweeps() {
  // Self-renewing chains on the scheduler; each ends once the coordinator stops.
  ScheduleGauges();
  ScheduleRetention(options_.retention_sweep_interval);
  ScheduleIdReservation();
}

void Coordinator::ScheduleIdReservation() {
  scheduler_.RunAfter(kIdRenewInterval, [this] {
    if (stopping()) return;
    ReserveIds();
    ScheduleIdReservation();
  });
}

void Coordinator::ScheduleGauges() {
  scheduler_.RunAfter(kGaugeInterval, [this] {
    if (stopping()) return;
    UpdateGauges();
    ScheduleGauges();
  });
}

void Coordinator::ScheduleRetention(absl::Duration delay) {
  scheduler_.RunAfter(delay, [this] {
    if (stopping()) return;
    ScheduleRetention(SweepRetention() ? kRetentionBatchGap : options_.retention_sweep_interval);
  });
}

void Coordinator::UpdateGauges() {
  std::vector<TxnPtr> txns;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, txn] : active_) txns.push_back(txn);
  }
  const absl::Time now = clock_.Now();
  int in_doubt = 0, stuck = 0;
  for (const TxnPtr& t : txns) {
    in_doubt += t->InDoubt() ? 1 : 0;
    stuck += t->Stuck(now, options_.stuck_after) ? 1 : 0;
  }
  if (metrics_ == nullptr) return;
  metrics_->SetGauges(txns.size(), in_doubt, stuck);
  for (const ParticipantEntry& p : registry_.List()) {
    metrics_->SetParticipantHealth(p.record.name(), p.health.consecutive_failures,
                                   p.health.circuit_open);
  }
}

bool Coordinator::SweepRetention() {
  absl::MutexLock lock(&retention_mu_);
  auto removed = log_.DeleteFinishedBefore(clock_.Now() - options_.retention, kRetentionBatch,
                                           &retention_cursor_);
  if (!removed.ok()) {
    Log(LogLevel::kWarning, "retention sweep failed", {{"error", removed.status().ToString()}});
    return false;
  }
  if (*removed > 0) {
    if (metrics_ != nullptr) metrics_->RetentionRemoved(*removed);
    Log(LogLevel::kDebug, "retention sweep", {{"removed", absl::StrCat(*removed)}});
  }
  return *removed == kRetentionBatch;
}

}  // namespace settle::engine
