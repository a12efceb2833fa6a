#ifndef SETTLE_SERVER_SERVICE_COORDINATOR_SERVICE_H_
#define SETTLE_SERVER_SERVICE_COORDINATOR_SERVICE_H_

#include "server/engine/audit_trail.h"
#include "server/engine/coordinator.h"
#include "server/engine/registry.h"
#include "settle/v1/coordinator.grpc.pb.h"

namespace settle {

// gRPC adapters: request -> engine call -> response, nothing more. Each reactor finishes from
// the engine's callback, so no gRPC thread waits on the log or on a participant.
// Operator commands go through the audit trail first. Thread-safe. The engine objects must
// outlive the services.
class CoordinatorService final : public v1::Coordinator::CallbackService {
 public:
  CoordinatorService(engine::Coordinator& coordinator, engine::AuditTrail& audit)
      : coordinator_(coordinator), audit_(audit) {}

  grpc::ServerUnaryReactor* Execute(grpc::CallbackServerContext* context,
                                    const v1::ExecuteRequest* request,
                                    v1::ExecuteResponse* response) override;
  grpc::ServerUnaryReactor* GetTransaction(grpc::CallbackServerContext* context,
                                           const v1::GetTransactionRequest* request,
                                           v1::Transaction* response) override;
  grpc::ServerUnaryReactor* ListTransactions(grpc::CallbackServerContext* context,
                                             const v1::ListTransactionsRequest* request,
                                             v1::ListTransactionsResponse* response) override;
  grpc::ServerUnaryReactor* AbortTransaction(grpc::CallbackServerContext* context,
                                             const v1::AbortTransactionRequest* request,
                                             v1::AbortTransactionResponse* response) override;
  grpc::ServerUnaryReactor* RetryTransaction(grpc::CallbackServerContext* context,
                                             const v1::RetryTransactionRequest* request,
                                             v1::Transaction* response) override;
  grpc::ServerUnaryReactor* ResolveTransaction(grpc::CallbackServerContext* context,
                                               const v1::ResolveTransactionRequest* request,
                                               v1::Transaction* response) override;
  grpc::ServerUnaryReactor* ListOperatorCommands(
      grpc::CallbackServerContext* context, const v1::ListOperatorCommandsRequest* request,
      v1::ListOperatorCommandsResponse* response) override;

 private:
  engine::Coordinator& coordinator_;
  engine::AuditTrail& audit_;
};

class RegistryService final : public v1::Registry::CallbackService {
 public:
  RegistryService(engine::Coordinator& coordinator, engine::Registry& registry,
                  engine::AuditTrail& audit)
      : coordinator_(coordinator), registry_(registry), audit_(audit) {}

  grpc::ServerUnaryReactor* RegisterParticipant(
      grpc::CallbackServerContext* context, const v1::RegisterParticipantRequest* request,
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

class DecisionService final : public v1::DecisionService::CallbackService {
 public:
  explicit DecisionService(engine::Coordinator& coordinator) : coordinator_(coordinator) {}

  grpc::ServerUnaryReactor* GetDecision(grpc::CallbackServerContext* context,
                                        const v1::GetDecisionRequest* request,
                                        v1::GetDecisionResponse* response) override;

 private:
  engine::Coordinator& coordinator_;
};

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_COORDINATOR_SERVICE_H_
