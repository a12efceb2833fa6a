#ifndef SETTLE_SERVER_ENGINE_PARTICIPANT_CHANNEL_H_
#define SETTLE_SERVER_ENGINE_PARTICIPANT_CHANNEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace settle::engine {

// One branch of one transaction, as a participant sees it.
struct BranchRef {
  std::string txn_id;
  uint32_t branch_id = 0;
};

// Three-phase commit: another branch of the same transaction, for the termination protocol.
struct Peer {
  uint32_t branch_id = 0;
  std::string endpoint;
};

struct PrepareCall {
  BranchRef ref;
  std::string participant;
  std::string payload;
  absl::Time deadline;
  // Three-phase commit only (zero and empty otherwise): the bound on message delays the
  // participant's timers use, and every other branch.
  absl::Duration three_phase_timeout;
  std::vector<Peer> peers;
};

struct VoteResult {
  bool yes = false;
  std::string reason;  // With a NO.
};

// A participant's answer to a saga action or compensation.
struct StepResult {
  enum class Kind {
    kDone,        // Took effect (an action) or was undone (a compensation).
    kRefused,     // An action refused (nothing happened); a compensation that cannot be done.
    kInProgress,  // Accepted; the outcome is reported later: ask again.
  };
  Kind kind = Kind::kDone;
  std::string reason;  // With kRefused.
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
  // Saga steps: the branch's action, and its compensation (both carry the payload). Each is
  // applied once per transaction and branch however often it is asked. A channel whose
  // participant runs no saga steps answers UNIMPLEMENTED.
  virtual void Act(const PrepareCall& call, std::function<void(absl::StatusOr<StepResult>)> done) {
    done(absl::UnimplementedError("this participant does not run saga steps"));
  }
  virtual void Compensate(const PrepareCall& call,
                          std::function<void(absl::StatusOr<StepResult>)> done) {
    done(absl::UnimplementedError("this participant does not run saga steps"));
  }
  // Whether the other participants of a transaction can call this one directly, as three-phase
  // commit's termination protocol needs; false for one reached only through a broker.
  virtual bool CallableByPeers() const { return true; }
  // Three-phase commit's middle round. FAILED_PRECONDITION: the branch already aborted there.
  virtual void PreCommit(const BranchRef& ref, absl::Time deadline,
                         std::function<void(absl::Status)> done) {
    done(absl::UnimplementedError("this participant does not run three-phase commit"));
  }
};

// Makes channels for registered endpoints. Thread-safe.
class ParticipantChannelFactory {
 public:
  virtual ~ParticipantChannelFactory() = default;
  // INVALID_ARGUMENT naming what is wrong when `endpoint` has no form this factory knows.
  virtual absl::StatusOr<std::shared_ptr<ParticipantChannel>> Create(
      const std::string& endpoint) = 0;
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_PARTICIPANT_CHANNEL_H_
