#include "server/engine/housekeeping.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/json_log.h"

namespace settle::engine {
namespace {

// Small enough that one batch's write (two deletes per transaction) costs the writer about a
// millisecond; the pause between batches lets the scheduler's other work run.
constexpr int kRetentionBatch = 1000;
constexpr absl::Duration kRetentionBatchGap = absl::Milliseconds(5);

}  // namespace

Housekeeping::Housekeeping(HousekeepingOptions options, storage::DecisionLog& log,
                           const ActiveSet& active, Registry& registry, IdAllocator& ids,
                           Scheduler& scheduler, const Clock& clock, Metrics* metrics)
    : options_(options),
      log_(log),
      active_(active),
      registry_(registry),
      ids_(ids),
      scheduler_(scheduler),
      clock_(clock),
      metrics_(metrics),
      figures_(options_.figure_span) {}

void Housekeeping::Start() {
  ScheduleRetention(options_.retention_sweep_interval);
  ScheduleIdRenewal();
  SampleFigures();
  ScheduleFigures();
}

void Housekeeping::SampleFigures() {
  if (metrics_ != nullptr) figures_.Record(clock_.Now(), metrics_->ExecuteTotalsNow());
}

std::vector<FigureInterval> Housekeeping::Figures() const {
  if (metrics_ == nullptr) return {};
  return figures_.Intervals(clock_.Now(), metrics_->ExecuteTotalsNow());
}

void Housekeeping::ScheduleFigures() {
  scheduler_.RunAfter(options_.figure_interval, [this] {
    if (stopped()) return;
    SampleFigures();
    ScheduleFigures();
  });
}

void Housekeeping::ScheduleIdRenewal() {
  scheduler_.RunAfter(IdAllocator::kRenewInterval, [this] {
    if (stopped()) return;
    ids_.Reserve();
    ScheduleIdRenewal();
  });
}

void Housekeeping::ScheduleRetention(absl::Duration delay) {
  scheduler_.RunAfter(delay, [this] {
    if (stopped()) return;
    ScheduleRetention(SweepRetention() ? kRetentionBatchGap : options_.retention_sweep_interval);
  });
}

Housekeeping::Counts Housekeeping::CountActive() const {
  const std::vector<TxnPtr> txns = active_.All();
  const absl::Time now = clock_.Now();
  Counts c;
  c.in_flight = static_cast<int64_t>(txns.size());
  for (const TxnPtr& t : txns) {
    c.in_doubt += t->InDoubt() ? 1 : 0;
    c.stuck += t->Stuck(now, options_.stuck_after) ? 1 : 0;
    c.needs_attention += t->NeedsAttention() ? 1 : 0;
  }
  return c;
}

void Housekeeping::UpdateGauges() {
  if (metrics_ == nullptr) return;
  const Counts c = CountActive();
  metrics_->SetGauges(c.in_flight, c.in_doubt, c.stuck, c.needs_attention);
  for (const ParticipantEntry& p : registry_.List()) {
    metrics_->SetParticipantHealth(p.record.name(), p.health.consecutive_failures,
                                   p.health.circuit_open);
  }
}

bool Housekeeping::SweepRetention() {
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
