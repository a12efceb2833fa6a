#include "proto/status_mapping.h"

#include <string>

namespace settle {

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return {static_cast<grpc::StatusCode>(s.code()), std::string(s.message())};
}

absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return {static_cast<absl::StatusCode>(s.error_code()), s.error_message()};
}

}  // namespace settle
