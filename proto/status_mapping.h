#ifndef SETTLE_PROTO_STATUS_MAPPING_H_
#define SETTLE_PROTO_STATUS_MAPPING_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace settle {

// The one mapping between abseil and gRPC statuses. Both use google.rpc.Code numbers, so the
// code carries over unchanged, and so does the message.
grpc::Status ToGrpcStatus(const absl::Status& s);
absl::Status FromGrpcStatus(const grpc::Status& s);

}  // namespace settle

#endif  // SETTLE_PROTO_STATUS_MAPPING_H_
