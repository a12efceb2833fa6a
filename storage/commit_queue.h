#ifndef SETTLE_STORAGE_COMMIT_QUEUE_H_
#define SETTLE_STORAGE_COMMIT_QUEUE_H_

#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace settle::storage {

// A group-commit queue: callers Push() items from any thread and return at once; one writer
// thread takes everything queued so far and hands it to `flush` as one group. While a group is
// being synced the next one accumulates, so concurrent transactions share one fsync and no
// caller (in particular no gRPC callback thread) ever waits on a sync.
//
// Thread-safe. `flush` runs only on the writer thread, one group at a time, in push order.
template <typename Item>
class CommitQueue final {
 public:
  using Flush = std::function<void(std::vector<Item>& group)>;

  explicit CommitQueue(Flush flush) : flush_(std::move(flush)), thread_([this] { Run(); }) {}
  ~CommitQueue() { Close(); }

  // Flushes everything pushed before it, and whatever those flushes' callbacks push in turn,
  // then joins the writer thread. The owner calls it while the queue is still reachable, since
  // a callback may push again. Nothing may be pushed once it returned.
  void Close() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  CommitQueue(const CommitQueue&) = delete;
  CommitQueue& operator=(const CommitQueue&) = delete;

  void Push(Item item) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(item));
  }

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<Item> group;
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](CommitQueue* q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu_) {
              return q->stop_ || !q->queue_.empty();
            },
            this));
        if (queue_.empty() && stop_) return;
        group.swap(queue_);
      }
      flush_(group);
      group.clear();
    }
  }

  const Flush flush_;
  absl::Mutex mu_;
  std::vector<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: starts after the fields above are built.
};

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_COMMIT_QUEUE_H_
