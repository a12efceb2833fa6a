#ifndef SETTLE_BENCH_LOAD_H_
#define SETTLE_BENCH_LOAD_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "bench/drivers.h"
#include "bench/stats.h"

namespace settle::bench {

struct StepOptions {
  std::string label;  // For the progress line.
  absl::Duration warmup = absl::Seconds(2);
  absl::Duration duration = absl::Seconds(10);
  bool progress = true;  // A live line on stderr.
};

// Closed loop: `concurrency` transactions always in flight; each completion starts the next.
// Latency is from each transaction's start. Returns once all in flight have ended.
StepStats RunClosedLoop(Driver& driver, int concurrency, const StepOptions& options,
                        std::atomic<uint64_t>& seq);

// Open loop: transactions start at a fixed rate whatever the system does; latency is measured
// from each one's intended start, so a stall counts against every transaction it delays (no
// coordinated omission). At most `max_in_flight` outstanding; beyond that a send is counted
// as "DROPPED".
StepStats RunOpenLoop(Driver& driver, double rate, int max_in_flight, const StepOptions& options,
                      std::atomic<uint64_t>& seq);

}  // namespace settle::bench

#endif  // SETTLE_BENCH_LOAD_H_
