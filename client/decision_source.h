#ifndef SETTLE_CLIENT_DECISION_SOURCE_H_
#define SETTLE_CLIENT_DECISION_SOURCE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/credentials.h"

namespace settle::sdk {

// Where a participant learns the coordinator's decision about a branch it holds prepared and
// heard nothing of (the in-doubt resolver's seam: a test passes a fake).
class DecisionSource {
 public:
  enum class Decision { kCommit, kAbort, kUndecided };
  virtual ~DecisionSource() = default;
  // The decision about `txn_id`; any error means "not known now, ask again later". A coordinator
  // that has no record of the transaction answers kAbort (presumed abort). Thread-compatible:
  // the resolver asks from one thread.
  virtual absl::StatusOr<Decision> GetDecision(const std::string& txn_id) = 0;
};

// settle.v1.DecisionService at `endpoints` (one coordinator, or its shards as ShardMap::Parse
// reads them: each id is asked at its own shard), each call bounded by two seconds.
// `credentials` is shared with the participant's other calls. INVALID_ARGUMENT for bad
// endpoints.
absl::StatusOr<std::unique_ptr<DecisionSource>> MakeGrpcDecisionSource(
    const std::string& endpoints, std::shared_ptr<grpc::ChannelCredentials> credentials);

}  // namespace settle::sdk

#endif  // SETTLE_CLIENT_DECISION_SOURCE_H_
