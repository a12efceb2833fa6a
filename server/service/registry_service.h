#ifndef SETTLE_SERVER_SERVICE_REGISTRY_SERVICE_H_
#define SETTLE_SERVER_SERVICE_REGISTRY_SERVICE_H_

#include "server/engine/audit_trail.h"
#include "server/engine/coordinator.h"
#include "server/engine/registry.h"
#include "settle/v1/coordinator.grpc.pb.h"

namespace settle {

// settle.v1.Registry: participants come and go, each change an audited operator command.
// Deregistering goes through the coordinator, which refuses while the participant has
// transactions in flight. Thread-safe. The engine objects must outlive the service.
class RegistryService final : public v1::Registry::CallbackService {
 public:
  RegistryService(engine::Coordinator& coordinator, engine::Registry& registry,
                  engine::AuditTrail& audit)
      : coordinator_(coordinator), registry_(registry), audit_(audit) {}

  grpc::ServerUnaryReactor* RegisterParticipant(grpc::CallbackServerContext* context,
                                                const v1::RegisterParticipantRequest* request,
                                                v1::RegisterParticipantResponse* response) override;
  grpc::ServerUnaryReactor* DeregisterParticipant(
      grpc::CallbackServerContext* context, const v1::DeregisterParticipantRequest* request,
      v1::DeregisterParticipantResponse* response) override;
  grpc::ServerUnaryReactor* ListParticipants(grpc::CallbackServerContext* context,
                                             const v1::ListParticipantsRequest* request,
                                             v1::ListParticipantsResponse* response) override;

 private:
  engine::Coordinator& coordinator_;
  engine::Registry& registry_;
  engine::AuditTrail& audit_;
};

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_REGISTRY_SERVICE_H_
