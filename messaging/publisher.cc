#include "messaging/publisher.h"

#include <algorithm>

#include "absl/random/random.h"

namespace settle::messaging {

absl::Duration ReconnectBackoff(int failures, absl::Duration initial, absl::Duration max) {
  thread_local absl::BitGen gen;
  absl::Duration step = initial;
  for (int i = 1; i < failures && step < max; ++i) step *= 2;
  step = std::min(step, max);
  return absl::Microseconds(
      absl::Uniform(gen, absl::ToInt64Microseconds(step) / 2, absl::ToInt64Microseconds(step) + 1));
}

}  // namespace settle::messaging
