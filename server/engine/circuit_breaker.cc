#include "server/engine/circuit_breaker.h"

#include <algorithm>

namespace settle::engine {

bool CircuitBreaker::Unreachable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded;
}

bool CircuitBreaker::Allow(absl::Time now) {
  if (!open_) return true;
  if (now < next_probe_) return false;
  // This caller is the probe. The next one waits twice as long, so a participant that stays
  // down is asked at a bounded rate however many payments and retries want it.
  next_probe_ = now + probe_interval_;
  probe_interval_ = std::min(probe_interval_ * 2, options_.probe_max);
  return true;
}

void CircuitBreaker::RecordAnswer() {
  consecutive_failures_ = 0;
  open_ = false;
}

void CircuitBreaker::RecordFailure(const absl::Status& error, absl::Time now) {
  if (!Unreachable(error.code())) return RecordAnswer();
  ++consecutive_failures_;
  if (open_ || consecutive_failures_ < options_.failure_threshold) return;
  open_ = true;
  probe_interval_ = options_.probe_initial;
  next_probe_ = now + probe_interval_;
  probe_interval_ = std::min(probe_interval_ * 2, options_.probe_max);
}

}  // namespace settle::engine
