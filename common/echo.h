#ifndef SETTLE_COMMON_ECHO_H_
#define SETTLE_COMMON_ECHO_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace settle {

// How a value from a request appears in an error message or a log line: at most `max_bytes` of
// it, C-escaped (control bytes, quotes and non-ASCII shown as escapes), quoted, with the full
// length after a cut. A caller's value of any size thus leaves a short, printable echo, never
// one that outgrows gRPC's metadata limit or floods a log. Thread-safe (a pure function).
//   Echo("abc") == "'abc'"; Echo(a 9000-byte string) == "'xxxx…' (9000 bytes)"
std::string Echo(absl::string_view value, size_t max_bytes = 64);

}  // namespace settle

#endif  // SETTLE_COMMON_ECHO_H_
