#include "server/engine/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace settle::engine {

absl::Duration RetryPolicy::Delay(int attempt) {
  const double factor = std::pow(options_.multiplier, std::max(0, attempt - 1));
  const absl::Duration step = std::min(options_.initial * factor, options_.max);
  absl::MutexLock lock(&mu_);
  // Half fixed, half random: spreads retries of many transactions apart (no thundering herd)
  // while keeping a floor so a retry never comes back at once.
  return step / 2 + absl::Uniform(gen_, 0.0, 1.0) * (step / 2);
}

}  // namespace settle::engine
