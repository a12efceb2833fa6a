#ifndef SETTLE_SERVER_ENGINE_CLOCK_H_
#define SETTLE_SERVER_ENGINE_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace settle::engine {

// Source of the current time; a seam so tests can control it. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_CLOCK_H_
