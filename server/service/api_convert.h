#ifndef SETTLE_SERVER_SERVICE_API_CONVERT_H_
#define SETTLE_SERVER_SERVICE_API_CONVERT_H_

// Translation between the settle.v1 wire messages and the engine's types. Pure functions.

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/engine/coordinator.h"
#include "server/engine/registry.h"
#include "settle/v1/coordinator.pb.h"

namespace settle {

absl::Time FromProtoTime(const google::protobuf::Timestamp& t);
void ToProtoTime(absl::Time t, google::protobuf::Timestamp* out);
void MicrosToProtoTime(int64_t micros, google::protobuf::Timestamp* out);  // 0 leaves it unset.
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);

engine::ExecuteParams ToExecuteParams(const v1::ExecuteRequest& req);
void ToExecuteResponse(const engine::ExecuteResult& r, v1::ExecuteResponse* out);
void ToTransaction(const engine::TxnSnapshot& snap, v1::Transaction* out);
// INVALID_ARGUMENT for an unknown state value.
absl::StatusOr<engine::ListParams> ToListParams(const v1::ListTransactionsRequest& req);
void ToParticipantInfo(const engine::ParticipantEntry& e, v1::ParticipantInfo* out);

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_API_CONVERT_H_
