#ifndef SETTLE_COMMON_CHECK_H_
#define SETTLE_COMMON_CHECK_H_

// CHECK for broken invariants (bugs, not statuses). abseil 20220623 has no absl/log.
//   SETTLE_CHECK(x < n) << "branch " << x << " of " << id;
// On failure prints file, line, condition and message to stderr and aborts.

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace settle::internal {

class CheckFailure final {
 public:
  CheckFailure(const char* file, int line, const char* condition) {
    stream_ << file << ":" << line << ": CHECK failed: " << condition << ": ";
  }
  [[noreturn]] ~CheckFailure() {
    std::fprintf(stderr, "%s\n", stream_.str().c_str());
    std::abort();
  }
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

}  // namespace settle::internal

#define SETTLE_CHECK(condition) \
  if (condition) {              \
  } else                        \
    ::settle::internal::CheckFailure(__FILE__, __LINE__, #condition).stream()

#define SETTLE_CHECK_LT(a, b) SETTLE_CHECK((a) < (b))

#endif  // SETTLE_COMMON_CHECK_H_
