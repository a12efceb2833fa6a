#ifndef SETTLE_BENCH_STATS_H_
#define SETTLE_BENCH_STATS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace settle::bench {

// What one transaction ended as: "committed", "aborted", or a gRPC status code name.
struct Sample {
  absl::Duration latency;
  std::string result;
};

// Figures of one step (one concurrency or one rate) for one system.
struct StepStats {
  double seconds = 0;
  int64_t count = 0;
  double tps = 0;
  absl::Duration p50, p90, p99, p999, max;
  std::map<std::string, int64_t> results;  // committed / aborted / error codes.
};

// Collects samples from completion callbacks; only samples recorded while enabled count (so the
// warm-up is left out). Thread-safe.
class Recorder final {
 public:
  void Enable(bool on) ABSL_LOCKS_EXCLUDED(mu_);
  void Record(Sample s) ABSL_LOCKS_EXCLUDED(mu_);
  int64_t count() const ABSL_LOCKS_EXCLUDED(mu_);
  // Computes the step's figures over `elapsed` and clears the samples.
  StepStats Take(absl::Duration elapsed) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  bool enabled_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int64_t> nanos_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> results_ ABSL_GUARDED_BY(mu_);
};

}  // namespace settle::bench

#endif  // SETTLE_BENCH_STATS_H_
