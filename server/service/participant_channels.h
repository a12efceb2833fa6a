#ifndef SETTLE_SERVER_SERVICE_PARTICIPANT_CHANNELS_H_
#define SETTLE_SERVER_SERVICE_PARTICIPANT_CHANNELS_H_

// Which transport reaches a registered endpoint: the only place that knows the endpoint forms
// (host:port for gRPC, `amqp:<queue>` for RabbitMQ).

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/engine/participant_channel.h"
#include "server/service/amqp_call_link.h"
#include "server/service/grpc_participant_channel.h"

namespace settle {

// The endpoint prefix of participants reached through the broker.
inline constexpr char kAmqpEndpointPrefix[] = "amqp:";

// gRPC for host:port endpoints, the broker for `amqp:<queue>` ones (FAILED_PRECONDITION when
// this coordinator has no broker). Thread-safe.
class ParticipantChannels final : public engine::ParticipantChannelFactory {
 public:
  // `amqp` may be null: no broker configured. `credentials`: of the gRPC channels; `batch`:
  // whether they send batches to the participants that serve them.
  ParticipantChannels(std::shared_ptr<AmqpCallLink> amqp,
                      std::shared_ptr<grpc::ChannelCredentials> credentials, bool batch)
      : grpc_(std::move(credentials), batch), amqp_(std::move(amqp)) {}
  // A channel for a valid endpoint (ValidateEndpoint's INVALID_ARGUMENT otherwise).
  absl::StatusOr<std::shared_ptr<engine::ParticipantChannel>> Create(
      const std::string& endpoint) override;

  // Validates an endpoint: host:port, the host a DNS name, an IPv4 address or [IPv6], the port
  // 1 to 65535, no scheme, path or spaces; or amqp:<queue>, a participant reached through
  // RabbitMQ. INVALID_ARGUMENT naming what is wrong otherwise.
  static absl::Status ValidateEndpoint(const std::string& endpoint);

 private:
  GrpcParticipantChannelFactory grpc_;
  const std::shared_ptr<AmqpCallLink> amqp_;
};

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_PARTICIPANT_CHANNELS_H_
