#ifndef SETTLE_SERVER_SERVICE_MESSAGE_PARTICIPANT_CHANNEL_H_
#define SETTLE_SERVER_SERVICE_MESSAGE_PARTICIPANT_CHANNEL_H_

// A participant reached by participant.proto's messages carried whole (a method name and a
// serialized request, answered by a serialized response): through RabbitMQ (`amqp:<queue>`,
// AmqpCallLink) or in the gRPC Batch calls of the batched channel (batched_participant_channel.h).

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/engine/participant_channel.h"

namespace settle {

// Carries one call to one participant. Thread-safe.
class MessageCallLink {
 public:
  // The serialized response, or the call's error. Runs exactly once, on any thread.
  using Done = std::function<void(absl::StatusOr<std::string>)>;
  virtual ~MessageCallLink() = default;
  // Calls `method` ("Prepare", "Commit", ...) with the serialized `request`; DEADLINE_EXCEEDED
  // when no answer came by `deadline`.
  virtual void Call(const char* method, std::string request, absl::Time deadline, Done done) = 0;
};

// engine::ParticipantChannel over a MessageCallLink. Thread-safe.
class MessageParticipantChannel final : public engine::ParticipantChannel {
 public:
  // `callable_by_peers`: whether the other branches can call this participant directly (three-
  // phase commit's termination protocol); false for one reached only through the broker.
  MessageParticipantChannel(std::shared_ptr<MessageCallLink> link, bool callable_by_peers)
      : link_(std::move(link)), callable_by_peers_(callable_by_peers) {}

  void Prepare(const engine::PrepareCall& call,
               std::function<void(absl::StatusOr<engine::VoteResult>)> done) override;
  bool CallableByPeers() const override { return callable_by_peers_; }
  void Commit(const engine::BranchRef& ref, absl::Time deadline,
              std::function<void(absl::Status)> done) override;
  void Abort(const engine::BranchRef& ref, absl::Time deadline,
             std::function<void(absl::Status)> done) override;
  void PreCommit(const engine::BranchRef& ref, absl::Time deadline,
                 std::function<void(absl::Status)> done) override;
  void Act(const engine::PrepareCall& call,
           std::function<void(absl::StatusOr<engine::StepResult>)> done) override;
  void Compensate(const engine::PrepareCall& call,
                  std::function<void(absl::StatusOr<engine::StepResult>)> done) override;

 private:
  // Commit, Abort and PreCommit: a branch named, OK or an error.
  void Deliver(const char* method, const engine::BranchRef& ref, absl::Time deadline,
               std::function<void(absl::Status)> done);
  void Step(const char* method, const engine::PrepareCall& call,
            std::function<void(absl::StatusOr<engine::StepResult>)> done);

  const std::shared_ptr<MessageCallLink> link_;
  const bool callable_by_peers_;
};

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_MESSAGE_PARTICIPANT_CHANNEL_H_
