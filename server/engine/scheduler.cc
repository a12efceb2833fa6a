#include "server/engine/scheduler.h"

#include <utility>

#include "absl/time/clock.h"

namespace settle::engine {

ThreadScheduler::ThreadScheduler() : thread_([this] { Run(); }) {}

ThreadScheduler::~ThreadScheduler() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void ThreadScheduler::RunAfter(absl::Duration delay, std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.emplace(absl::Now() + delay, std::move(task));
}

void ThreadScheduler::Run() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      for (;;) {
        if (stop_) return;
        const absl::Time now = absl::Now();
        if (!tasks_.empty() && tasks_.begin()->first <= now) break;
        const absl::Time wake =
            tasks_.empty() ? now + absl::Seconds(1) : tasks_.begin()->first;
        // Wakes early when a task is added or on stop; re-checks either way.
        std::pair<ThreadScheduler*, size_t> arg(this, tasks_.size());
        mu_.AwaitWithDeadline(
            absl::Condition(
                +[](std::pair<ThreadScheduler*, size_t>* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                  return a->first->stop_ || a->first->tasks_.size() != a->second;
                },
                &arg),
            wake);
      }
      auto it = tasks_.begin();
      task = std::move(it->second);
      tasks_.erase(it);
    }
    task();
  }
}

}  // namespace settle::engine
