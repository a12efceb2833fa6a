#include "bench/stats.h"

#include <algorithm>

namespace settle::bench {

void Recorder::Enable(bool on) {
  absl::MutexLock lock(&mu_);
  enabled_ = on;
}

void Recorder::Record(Sample s) {
  absl::MutexLock lock(&mu_);
  if (!enabled_) return;
  nanos_.push_back(absl::ToInt64Nanoseconds(s.latency));
  ++results_[s.result];
}

int64_t Recorder::count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(nanos_.size());
}

StepStats Recorder::Take(absl::Duration elapsed) {
  std::vector<int64_t> v;
  StepStats out;
  {
    absl::MutexLock lock(&mu_);
    v.swap(nanos_);
    out.results.swap(results_);
  }
  std::sort(v.begin(), v.end());
  out.seconds = absl::ToDoubleSeconds(elapsed);
  out.count = static_cast<int64_t>(v.size());
  out.tps = out.seconds > 0 ? out.count / out.seconds : 0;
  auto at = [&v](double q) {
    if (v.empty()) return absl::ZeroDuration();
    size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return absl::Nanoseconds(v[std::min(i, v.size() - 1)]);
  };
  out.p50 = at(0.50);
  out.p90 = at(0.90);
  out.p99 = at(0.99);
  out.p999 = at(0.999);
  out.max = at(1.0);
  return out;
}

}  // namespace settle::bench
