#ifndef SETTLE_TESTS_TESTING_MANUAL_TIME_H_
#define SETTLE_TESTS_TESTING_MANUAL_TIME_H_

// Time that moves only when a test says so: a clock and a scheduler that runs due tasks on the
// test's thread. With them the engine's unit tests have no threads and no sleeps.

#include <functional>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine/clock.h"
#include "server/engine/scheduler.h"

namespace settle::testing {

// Thread-safe.
class ManualClock final : public engine::Clock {
 public:
  explicit ManualClock(absl::Time start = absl::FromUnixSeconds(1'800'000'000)) : now_(start) {}
  absl::Time Now() const override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Set(absl::Time t) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }
  void Advance(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

// Holds tasks until the test runs them: RunDue runs what is due at the clock's time (tasks that
// become due meanwhile included), AdvanceToNext moves the clock to the earliest task. Tasks run
// on the caller's thread, in due order. Thread-safe.
class ManualScheduler final : public engine::Scheduler {
 public:
  explicit ManualScheduler(ManualClock& clock) : clock_(clock) {}

  void RunAfter(absl::Duration delay, std::function<void()> task) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    tasks_.emplace(clock_.Now() + delay, std::move(task));
  }

  // Runs every task due now; returns how many ran.
  int RunDue() ABSL_LOCKS_EXCLUDED(mu_) {
    int ran = 0;
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        if (tasks_.empty() || tasks_.begin()->first > clock_.Now()) return ran;
        task = std::move(tasks_.begin()->second);
        tasks_.erase(tasks_.begin());
      }
      task();
      ++ran;
    }
  }
  // Moves the clock to the earliest task not yet due, if that is within `limit`; false if none.
  bool AdvanceToNext(absl::Duration limit) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::Time next;
    {
      absl::MutexLock lock(&mu_);
      if (tasks_.empty()) return false;
      next = tasks_.begin()->first;
    }
    if (next - clock_.Now() > limit) return false;
    if (next > clock_.Now()) clock_.Set(next);
    return true;
  }
  // Drops every task, as a process that died would.
  void Clear() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    tasks_.clear();
  }

 private:
  ManualClock& clock_;
  absl::Mutex mu_;
  std::multimap<absl::Time, std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace settle::testing

#endif  // SETTLE_TESTS_TESTING_MANUAL_TIME_H_
