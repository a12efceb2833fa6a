#include "server/engine/figures.h"

#include <utility>

namespace settle::engine {

double HistogramQuantile(double q, const std::vector<double>& bounds,
                         const std::vector<uint64_t>& cumulative) {
  if (cumulative.empty() || cumulative.back() == 0 || bounds.size() != cumulative.size()) {
    return 0;
  }
  const double rank = q * static_cast<double>(cumulative.back());
  size_t i = 0;
  while (i + 1 < cumulative.size() && static_cast<double>(cumulative[i]) < rank) ++i;
  if (i + 1 == cumulative.size()) return bounds.size() >= 2 ? bounds[bounds.size() - 2] : 0;
  const double lower = i == 0 ? 0 : bounds[i - 1];
  const double below = i == 0 ? 0 : static_cast<double>(cumulative[i - 1]);
  const double in_bucket = static_cast<double>(cumulative[i]) - below;
  if (in_bucket <= 0) return bounds[i];
  return lower + (bounds[i] - lower) * (rank - below) / in_bucket;
}

void FigureHistory::Record(absl::Time at, ExecuteTotals totals) {
  absl::MutexLock lock(&mu_);
  samples_.push_back({at, std::move(totals)});
  while (samples_.size() > 2 && at - samples_[1].at >= span_) samples_.pop_front();
}

FigureInterval FigureHistory::Between(const Sample& first, const Sample& second) {
  const ExecuteTotals& a = first.totals;
  const ExecuteTotals& b = second.totals;
  FigureInterval f{first.at, second.at};
  const bool restarted = b.committed < a.committed || b.aborted < a.aborted ||
                         b.failed < a.failed || a.cumulative.size() != b.cumulative.size();
  if (restarted) return f;
  f.committed = b.committed - a.committed;
  f.aborted = b.aborted - a.aborted;
  f.failed = b.failed - a.failed;
  std::vector<uint64_t> delta(b.cumulative.size());
  for (size_t k = 0; k < delta.size(); ++k) {
    delta[k] = b.cumulative[k] >= a.cumulative[k] ? b.cumulative[k] - a.cumulative[k] : 0;
  }
  f.p50_ms = 1000 * HistogramQuantile(0.5, b.bounds, delta);
  f.p90_ms = 1000 * HistogramQuantile(0.9, b.bounds, delta);
  f.p99_ms = 1000 * HistogramQuantile(0.99, b.bounds, delta);
  return f;
}

std::vector<FigureInterval> FigureHistory::Intervals() const {
  absl::MutexLock lock(&mu_);
  std::vector<FigureInterval> out;
  for (size_t i = 1; i < samples_.size(); ++i) out.push_back(Between(samples_[i - 1], samples_[i]));
  return out;
}

std::vector<FigureInterval> FigureHistory::Intervals(absl::Time now, ExecuteTotals current) const {
  std::vector<FigureInterval> out = Intervals();
  absl::MutexLock lock(&mu_);
  if (!samples_.empty() && now > samples_.back().at) {
    out.push_back(Between(samples_.back(), {now, std::move(current)}));
  }
  return out;
}

}  // namespace settle::engine
