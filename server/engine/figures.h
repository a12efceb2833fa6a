#ifndef SETTLE_SERVER_ENGINE_FIGURES_H_
#define SETTLE_SERVER_ENGINE_FIGURES_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace settle::engine {

// Execute's running totals as the metrics hold them at one moment.
struct ExecuteTotals {
  uint64_t committed = 0;
  uint64_t aborted = 0;
  uint64_t failed = 0;  // Answered with an error status.
  // Latency histogram over every result: upper bounds in seconds (the last is +inf) and the
  // cumulative count at each.
  std::vector<double> bounds;
  std::vector<uint64_t> cumulative;
};

// One interval between two samples.
struct FigureInterval {
  absl::Time start, end;
  uint64_t committed = 0, aborted = 0, failed = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0;
};

// The last minutes of payments for the console (GetFigures), from the coordinator's own
// metrics: a sample of the totals every few seconds, the differences between neighbours. Kept
// in memory only: a restart starts the history again. Thread-safe.
class FigureHistory final {
 public:
  // Keeps `span` of history (the newest samples that fit).
  explicit FigureHistory(absl::Duration span) : span_(span) {}

  void Record(absl::Time at, ExecuteTotals totals) ABSL_LOCKS_EXCLUDED(mu_);
  // Oldest first. Totals that went down (another registry after a restart) start afresh.
  std::vector<FigureInterval> Intervals() const ABSL_LOCKS_EXCLUDED(mu_);
  // The same, and the interval still open: from the last sample to `now`, with `current`.
  std::vector<FigureInterval> Intervals(absl::Time now, ExecuteTotals current) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Sample {
    absl::Time at;
    ExecuteTotals totals;
  };
  static FigureInterval Between(const Sample& a, const Sample& b);
  const absl::Duration span_;
  mutable absl::Mutex mu_;
  std::deque<Sample> samples_ ABSL_GUARDED_BY(mu_);  // Oldest first.
};

// The q-quantile (0..1) of the observations counted in `cumulative` per `bounds`, in seconds,
// interpolated within its bucket as Prometheus' histogram_quantile does; the largest finite
// bound when it falls in the last (+inf) bucket; 0 without observations.
double HistogramQuantile(double q, const std::vector<double>& bounds,
                         const std::vector<uint64_t>& cumulative);

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_FIGURES_H_
