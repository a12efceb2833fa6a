#ifndef SETTLE_SERVER_ENGINE_HOUSEKEEPING_H_
#define SETTLE_SERVER_ENGINE_HOUSEKEEPING_H_

#include <atomic>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine/active_set.h"
#include "server/engine/clock.h"
#include "server/engine/figures.h"
#include "server/engine/id_allocator.h"
#include "server/engine/metrics.h"
#include "server/engine/registry.h"
#include "server/engine/scheduler.h"
#include "storage/decision_log.h"

namespace settle::engine {

struct HousekeepingOptions {
  absl::Duration retention = absl::Hours(24 * 7);
  // How often finished transactions past `retention` are looked for. A sweep removes them in
  // small batches, one write each, so Execute's log writes interleave with it.
  absl::Duration retention_sweep_interval = absl::Minutes(1);
  absl::Duration stuck_after = absl::Minutes(1);
  // The console's figures (GetFigures): how often Execute's totals are sampled, how long kept.
  absl::Duration figure_interval = absl::Seconds(10);
  absl::Duration figure_span = absl::Minutes(15);
};

// The coordinator's periodic chores, each a self-renewing chain on the scheduler: the retention
// sweep, the renewal of reserved transaction ids and the samples of the console's figures. Gauges
// are set on demand (UpdateGauges, before each scrape), not on a timer.
//
// Thread-safe. Everything passed in must outlive it; Stop() ends every chain (a task already
// due runs and does nothing).
class Housekeeping final {
 public:
  Housekeeping(HousekeepingOptions options, storage::DecisionLog& log, const ActiveSet& active,
               Registry& registry, IdAllocator& ids, Scheduler& scheduler, const Clock& clock,
               Metrics* metrics);

  void Start();
  void Stop() { stopped_.store(true); }

  // Sets the gauges from the state now. Thread-safe.
  void UpdateGauges();
  // The gauges now: transactions not yet terminal, stuck ones, parked ones.
  struct Counts {
    int64_t in_flight = 0, in_doubt = 0, stuck = 0, needs_attention = 0;
  };
  Counts CountActive() const;
  // Takes one sample of Execute's totals (the timer does, every figure_interval).
  void SampleFigures();
  // The sampled intervals and the one still open, up to now (empty without metrics).
  std::vector<FigureInterval> Figures() const;
  // Removes one batch; true if it was full (more are due).
  bool SweepRetention() ABSL_LOCKS_EXCLUDED(retention_mu_);

 private:
  void ScheduleRetention(absl::Duration delay);
  void ScheduleIdRenewal();
  void ScheduleFigures();
  bool stopped() const { return stopped_.load(); }

  const HousekeepingOptions options_;
  storage::DecisionLog& log_;
  const ActiveSet& active_;
  Registry& registry_;
  IdAllocator& ids_;
  Scheduler& scheduler_;
  const Clock& clock_;
  Metrics* const metrics_;  // May be null (tests).
  std::atomic<bool> stopped_{false};
  FigureHistory figures_;
  absl::Mutex retention_mu_;  // Serialises sweeps.
  std::string retention_cursor_ ABSL_GUARDED_BY(retention_mu_);  // Where the next one starts.
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_HOUSEKEEPING_H_
