#ifndef SETTLE_SERVER_ENGINE_CIRCUIT_BREAKER_H_
#define SETTLE_SERVER_ENGINE_CIRCUIT_BREAKER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace settle::engine {

struct CircuitBreakerOptions {
  // Consecutive unreachable answers (UNAVAILABLE, DEADLINE_EXCEEDED) that open the circuit.
  int failure_threshold = 5;
  // While open, one call is let through as a probe after `probe_initial`, then at doubling
  // intervals up to `probe_max`, until one is answered.
  absl::Duration probe_initial = absl::Milliseconds(50);
  absl::Duration probe_max = absl::Seconds(10);
};

// Whether one participant is worth calling. Closed while it answers; open once it has failed
// `failure_threshold` times in a row (a dead process, a partition, a stopped machine). While
// open, calls are refused except a probe now and then; any answer closes it again.
//
//   CLOSED --threshold consecutive unreachable answers--> OPEN
//   OPEN   --Allow() past the probe time: that caller is the probe (next probe time doubles)
//   OPEN   --any answer (a vote, an ack, a refusal: the participant is reachable)--> CLOSED
//
// The probe is whichever call asks first past the probe time: a delivery retry or a new
// payment's Prepare. A probe that is never sent only delays the next one. Not thread-safe: the
// owner (the registry) serialises calls. Time is passed in, so tests need no clock.
class CircuitBreaker final {
 public:
  explicit CircuitBreaker(CircuitBreakerOptions options) : options_(options) {}

  // True if a call may be made now. While open, true once per probe interval.
  bool Allow(absl::Time now);
  // The participant answered (whatever the answer said).
  void RecordAnswer();
  // A call failed. Only UNAVAILABLE and DEADLINE_EXCEEDED count as unreachable; any other code
  // is an answer and closes the circuit.
  void RecordFailure(const absl::Status& error, absl::Time now);

  bool open() const { return open_; }
  // When the next probe may go (InfinitePast while closed).
  absl::Time next_probe() const { return open_ ? next_probe_ : absl::InfinitePast(); }
  int consecutive_failures() const { return consecutive_failures_; }

  // True for the codes that say the participant could not be reached.
  static bool Unreachable(absl::StatusCode code);

 private:
  const CircuitBreakerOptions options_;
  int consecutive_failures_ = 0;
  bool open_ = false;
  absl::Duration probe_interval_ = absl::ZeroDuration();
  absl::Time next_probe_ = absl::InfinitePast();
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_CIRCUIT_BREAKER_H_
