#ifndef SETTLE_SERVER_SERVICE_AMQP_PARTICIPANT_CHANNEL_H_
#define SETTLE_SERVER_SERVICE_AMQP_PARTICIPANT_CHANNEL_H_

// A participant reached through RabbitMQ (registered as `amqp:<queue>`), over the coordinator's
// AmqpCallLink.

#include <functional>
#include <memory>
#include <string>

#include "server/engine/participant_channel.h"
#include "server/service/amqp_call_link.h"

namespace settle {

// engine::ParticipantChannel for one `amqp:<queue>` participant. Thread-safe.
class AmqpParticipantChannel final : public engine::ParticipantChannel {
 public:
  AmqpParticipantChannel(std::shared_ptr<AmqpCallLink> link, std::string queue);

  void Prepare(const engine::PrepareCall& call,
               std::function<void(absl::StatusOr<engine::VoteResult>)> done) override;
  bool CallableByPeers() const override { return false; }  // Only the broker reaches it.
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

  const std::shared_ptr<AmqpCallLink> link_;
  const std::string queue_;
};

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_AMQP_PARTICIPANT_CHANNEL_H_
