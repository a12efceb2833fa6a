#include "proto/time_convert.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"

namespace settle {

absl::StatusOr<absl::Time> FromProtoTime(const google::protobuf::Timestamp& t,
                                         absl::string_view field) {
  using google::protobuf::util::TimeUtil;
  if (t.nanos() < 0 || t.nanos() > 999999999 || t.seconds() < TimeUtil::kTimestampMinSeconds ||
      t.seconds() > TimeUtil::kTimestampMaxSeconds) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " is not a valid Timestamp (seconds ", t.seconds(), ", nanos ", t.nanos(),
        "): nanos must be 0 to 999999999 and the time between years 1 and 9999"));
  }
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void ToProtoTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

void MicrosToProtoTime(int64_t micros, google::protobuf::Timestamp* out) {
  if (micros != 0) ToProtoTime(absl::FromUnixMicros(micros), out);
}

void ToProtoDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t micros = absl::ToInt64Microseconds(d);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

}  // namespace settle
