#ifndef SETTLE_SERVER_ENGINE_SCHEDULER_H_
#define SETTLE_SERVER_ENGINE_SCHEDULER_H_

#include <functional>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace settle::engine {

// Runs tasks later: decision retries, retention sweeps, gauge updates. The engine never sleeps
// on a request thread; it schedules. Implementations are thread-safe.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Runs `task` once, no earlier than `delay` from now. Tasks must be short and not block.
  virtual void RunAfter(absl::Duration delay, std::function<void()> task) = 0;
};

// One timer thread that runs due tasks in time order. The destructor drops tasks not yet due and
// joins the thread. Thread-safe.
class ThreadScheduler final : public Scheduler {
 public:
  ThreadScheduler();
  ~ThreadScheduler() override;
  ThreadScheduler(const ThreadScheduler&) = delete;
  ThreadScheduler& operator=(const ThreadScheduler&) = delete;

  void RunAfter(absl::Duration delay, std::function<void()> task) override
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  std::multimap<absl::Time, std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: starts after the fields above are built.
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_SCHEDULER_H_
