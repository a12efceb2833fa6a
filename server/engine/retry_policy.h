#ifndef SETTLE_SERVER_ENGINE_RETRY_POLICY_H_
#define SETTLE_SERVER_ENGINE_RETRY_POLICY_H_

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace settle::engine {

// Capped exponential backoff with full jitter for delivering a decision. Delivery is never given
// up: past the cap every retry waits between cap/2 and cap, so a participant that stays down is
// asked at a steady, bounded rate and never sees a retry storm.
struct RetryOptions {
  absl::Duration initial = absl::Milliseconds(50);
  absl::Duration max = absl::Seconds(10);
  double multiplier = 2.0;
};

// Thread-safe.
class RetryPolicy final {
 public:
  explicit RetryPolicy(RetryOptions options) : options_(options) {}

  // The wait before retry number `attempt` (1 = the first retry): the exponential step capped at
  // `max`, drawn uniformly from [step/2, step].
  absl::Duration Delay(int attempt) ABSL_LOCKS_EXCLUDED(mu_);
  const RetryOptions& options() const { return options_; }

 private:
  const RetryOptions options_;
  absl::Mutex mu_;
  absl::BitGen gen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_RETRY_POLICY_H_
