#ifndef SETTLE_SERVER_SERVICE_API_CONVERT_H_
#define SETTLE_SERVER_SERVICE_API_CONVERT_H_

// Translation between the settle.v1 wire messages and the engine's types. Pure functions.

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "proto/time_convert.h"
#include "server/engine/coordinator.h"
#include "server/engine/registry.h"
#include "settle/v1/coordinator.pb.h"

namespace settle {

// INVALID_ARGUMENT naming `field` when `d` is not a valid Duration (|nanos| >= 1e9, seconds and
// nanos of opposite signs, or beyond +-10,000 years).
absl::StatusOr<absl::Duration> FromProtoDuration(const google::protobuf::Duration& d,
                                                 absl::string_view field);
// INVALID_ARGUMENT naming `field` when `value` is empty.
absl::Status RequireField(absl::string_view value, absl::string_view field);

// INVALID_ARGUMENT for an invalid timeout; the engine checks the rest.
absl::StatusOr<engine::ExecuteParams> ToExecuteParams(const v1::ExecuteRequest& req);
void ToExecuteResponse(const engine::ExecuteResult& r, v1::ExecuteResponse* out);
// The other way, for a shard that sends a payment on to another (server/service/
// previous_owners.h).
void ToExecuteRequest(const engine::ExecuteParams& p, v1::ExecuteRequest* out);
engine::ExecuteResult FromExecuteResponse(const v1::ExecuteResponse& r);
void ToTransaction(const engine::TxnSnapshot& snap, v1::Transaction* out);
// INVALID_ARGUMENT for an unknown state value or an invalid time.
absl::StatusOr<engine::ListParams> ToListParams(const v1::ListTransactionsRequest& req);
void ToParticipantInfo(const engine::ParticipantEntry& e, v1::ParticipantInfo* out);

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_API_CONVERT_H_
