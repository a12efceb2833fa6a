#ifndef SETTLE_PROTO_TIME_CONVERT_H_
#define SETTLE_PROTO_TIME_CONVERT_H_

// The one conversion between google.protobuf.Timestamp (and Duration) and absl's types, for the
// coordinator, the participant SDK and the CLI alike.

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace settle {

// INVALID_ARGUMENT naming `field` when `t` is not a valid Timestamp (nanos outside [0, 1e9),
// seconds outside years 1 to 9999).
absl::StatusOr<absl::Time> FromProtoTime(const google::protobuf::Timestamp& t,
                                         absl::string_view field);
void ToProtoTime(absl::Time t, google::protobuf::Timestamp* out);
void MicrosToProtoTime(int64_t micros, google::protobuf::Timestamp* out);  // 0 leaves it unset.
// Exact to the microsecond; for durations within protobuf's range.
void ToProtoDuration(absl::Duration d, google::protobuf::Duration* out);

}  // namespace settle

#endif  // SETTLE_PROTO_TIME_CONVERT_H_
