#ifndef SETTLE_SERVER_SERVICE_COORDINATOR_SERVICE_H_
#define SETTLE_SERVER_SERVICE_COORDINATOR_SERVICE_H_

#include "server/engine/audit_trail.h"
#include "server/engine/coordinator.h"
#include "settle/v1/coordinator.grpc.pb.h"

namespace settle {

// settle.v1.Coordinator, the payment API's and the operators' service: request -> engine call
// -> response, nothing more. Each reactor finishes from the engine's callback, so no gRPC
// thread waits on the log or on a participant. Operator commands (abort, retry, resolve) run
// through the audit trail. Thread-safe. The engine objects must outlive the service.
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
  grpc::ServerUnaryReactor* DrainShard(grpc::CallbackServerContext* context,
                                       const v1::DrainShardRequest* request,
                                       v1::DrainShardResponse* response) override;
  grpc::ServerUnaryReactor* GetFigures(grpc::CallbackServerContext* context,
                                       const v1::GetFiguresRequest* request,
                                       v1::GetFiguresResponse* response) override;

 private:
  engine::Coordinator& coordinator_;
  engine::AuditTrail& audit_;
};

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_COORDINATOR_SERVICE_H_
