#ifndef SETTLE_SERVER_ENGINE_PARTICIPANT_CHANNEL_H_
#define SETTLE_SERVER_ENGINE_PARTICIPANT_CHANNEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace settle::engine {

// One branch of one transaction, as a participant sees it.
struct BranchRef {
  std::string txn_id;
  uint32_t branch_id = 0;
};

struct PrepareCall {
  BranchRef ref;
  std::string participant;
  std::string payload;
  absl::Time deadline;
};

struct VoteResult {
  bool yes = false;
  std::string reason;  // With a NO.
};

// The engine's only way to reach a participant. The production implementation speaks gRPC
// (server/service/); tests script it. Calls return at once and run `done` exactly once, on any
// thread, when the participant answers or `deadline` passes (DEADLINE_EXCEEDED).
// Implementations are thread-safe.
class ParticipantChannel {
 public:
  virtual ~ParticipantChannel() = default;
  virtual void Prepare(const PrepareCall& call,
                       std::function<void(absl::StatusOr<VoteResult>)> done) = 0;
  virtual void Commit(const BranchRef& ref, absl::Time deadline,
                      std::function<void(absl::Status)> done) = 0;
  virtual void Abort(const BranchRef& ref, absl::Time deadline,
                     std::function<void(absl::Status)> done) = 0;
};

// Makes channels for registered endpoints. Thread-safe.
class ParticipantChannelFactory {
 public:
  virtual ~ParticipantChannelFactory() = default;
  // INVALID_ARGUMENT when `endpoint` cannot be used.
  virtual absl::StatusOr<std::shared_ptr<ParticipantChannel>> Create(
      const std::string& endpoint) = 0;
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_PARTICIPANT_CHANNEL_H_
