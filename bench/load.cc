#include "bench/load.h"

#include <cstdio>
#include <functional>
#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace settle::bench {
namespace {

// Counts transactions in flight; Wait() returns once none are.
class InFlight final {
 public:
  void Add() {
    absl::MutexLock lock(&mu_);
    ++n_;
  }
  void Done() {
    absl::MutexLock lock(&mu_);
    --n_;
  }
  int Get() {
    absl::MutexLock lock(&mu_);
    return n_;
  }
  bool WaitZero(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(+[](int* n) { return *n == 0; }, &n_), timeout);
  }

 private:
  absl::Mutex mu_;
  int n_ ABSL_GUARDED_BY(mu_) = 0;
};

// Runs the warm-up and the measured window, printing progress; `stop` ends the load.
StepStats Measure(Recorder& recorder, const StepOptions& options, std::atomic<bool>& stop,
                  InFlight& in_flight) {
  const absl::Time begin = absl::Now();
  const absl::Time measure_from = begin + options.warmup;
  const absl::Time end = measure_from + options.duration;
  bool measuring = false;
  while (absl::Now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const absl::Time now = absl::Now();
    if (!measuring && now >= measure_from) {
      recorder.Enable(true);
      measuring = true;
    }
    if (options.progress) {
      const double elapsed = measuring ? absl::ToDoubleSeconds(now - measure_from) : 0;
      std::fprintf(stderr, "\r  %-24s %s %5.1fs  done=%-8lld tps=%-8.0f in_flight=%-5d",
                   options.label.c_str(), measuring ? "measuring" : "warming  ",
                   measuring ? elapsed : absl::ToDoubleSeconds(now - begin),
                   static_cast<long long>(recorder.count()),
                   elapsed > 0 ? recorder.count() / elapsed : 0.0, in_flight.Get());
    }
  }
  recorder.Enable(false);
  stop = true;
  if (options.progress) std::fprintf(stderr, "\n");
  StepStats stats = recorder.Take(options.duration);
  in_flight.WaitZero(absl::Seconds(60));
  return stats;
}

}  // namespace

// State shared with completion callbacks, which may still be unwinding when a step returns.
struct Shared {
  Recorder recorder;
  InFlight in_flight;
  std::atomic<bool> stop{false};
};

StepStats RunClosedLoop(Driver& driver, int concurrency, const StepOptions& options,
                        std::atomic<uint64_t>& seq) {
  auto shared = std::make_shared<Shared>();
  // Each chain starts its next transaction from the previous one's completion.
  struct Chain {
    static void Next(const std::shared_ptr<Shared>& sh, Driver& driver,
                     std::atomic<uint64_t>& seq) {
      if (sh->stop) return;
      sh->in_flight.Add();
      const absl::Time start = absl::Now();
      driver.Run(seq.fetch_add(1), [sh, &driver, &seq, start](std::string result) {
        sh->recorder.Record({absl::Now() - start, std::move(result)});
        Next(sh, driver, seq);
        sh->in_flight.Done();
      });
    }
  };
  for (int i = 0; i < concurrency; ++i) Chain::Next(shared, driver, seq);
  return Measure(shared->recorder, options, shared->stop, shared->in_flight);
}

StepStats RunOpenLoop(Driver& driver, double rate, int max_in_flight, const StepOptions& options,
                      std::atomic<uint64_t>& seq) {
  auto sh = std::make_shared<Shared>();
  std::thread sender([&driver, &seq, sh, rate, max_in_flight] {
    const absl::Time t0 = absl::Now();
    for (int64_t i = 0; !sh->stop; ++i) {
      const absl::Time intended = t0 + absl::Seconds(static_cast<double>(i) / rate);
      const absl::Time now = absl::Now();
      if (intended > now) std::this_thread::sleep_for(absl::ToChronoNanoseconds(intended - now));
      if (sh->stop) break;
      if (sh->in_flight.Get() >= max_in_flight) {
        sh->recorder.Record({absl::Now() - intended, "DROPPED"});
        continue;
      }
      sh->in_flight.Add();
      driver.Run(seq.fetch_add(1), [sh, intended](std::string result) {
        sh->recorder.Record({absl::Now() - intended, std::move(result)});
        sh->in_flight.Done();
      });
    }
  });
  StepStats stats = Measure(sh->recorder, options, sh->stop, sh->in_flight);
  sender.join();
  sh->in_flight.WaitZero(absl::Seconds(60));
  return stats;
}

}  // namespace settle::bench
