#ifndef SETTLE_BENCH_GROWTH_H_
#define SETTLE_BENCH_GROWTH_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "bench/drivers.h"
#include "bench/load.h"
#include "bench/stats.h"
#include "launch/local_stack.h"

namespace settle::bench {

// What `settle-bench --growth` measures: the cost of a coordinator whose log has grown.
struct GrowthOptions {
  int concurrency = 64;
  StepOptions step;               // Warm-up and duration of each load step.
  int64_t mid_finished = 100000;  // Finished transactions for the first memory reading.
  int64_t finished = 1000000;     // ... and for the second, and the throughput comparison.
  int64_t active = 10000;         // Active transactions for the recovery measurement.
  int queries = 1000;             // GetTransaction calls (and a tenth as many List calls).
};

struct QueryLatency {
  absl::Duration p50, p99, max;
};

struct GrowthReport {
  StepStats empty;            // Load on a fresh log.
  StepStats at_mid;           // With mid_finished already in the log.
  StepStats at_full;          // With `finished` already in the log.
  StepStats while_sweeping;   // With `finished` in the log and all of it past retention.
  int64_t swept = 0;          // Removed by retention during that step.
  int64_t rss_mid_bytes = 0;  // Coordinator's resident memory after the at_mid step.
  int64_t rss_full_bytes = 0;
  QueryLatency get;                 // GetTransaction of random finished ids, `finished` in the log.
  QueryLatency list_first;          // ListTransactions, first page of 100.
  QueryLatency list_seek;           // ... a page of 100 from a random begin time.
  QueryLatency list_filter;         // ... state = COMMITTING, which none of the finished matches.
  absl::Duration recovery_serving;  // Restart with `active` in the log: start to SERVING.
  absl::Duration recovery_resolved;  // ... to none left active (every one aborted and acked).
};

// Runs the growth measurements on `stack` (started, participants registered, accounts open):
// stops the coordinator, writes finished or active transactions straight into its log (the same
// records the coordinator writes), restarts it on the same folder and measures. Load steps are
// closed loop at `concurrency` through `settle`. Not thread-safe; takes minutes at the defaults.
absl::StatusOr<GrowthReport> RunGrowth(launch::LocalStack& stack, Driver& settle,
                                       const Workload& workload, const GrowthOptions& options,
                                       std::atomic<uint64_t>& seq);

// The report as one JSON object, and as text for people.
std::string GrowthJson(const GrowthOptions& options, const GrowthReport& report);
std::string GrowthText(const GrowthOptions& options, const GrowthReport& report);

}  // namespace settle::bench

#endif  // SETTLE_BENCH_GROWTH_H_
