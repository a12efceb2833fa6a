#ifndef SETTLE_SERVER_SERVICE_DECISION_SERVICE_H_
#define SETTLE_SERVER_SERVICE_DECISION_SERVICE_H_

#include "server/engine/coordinator.h"
#include "settle/v1/coordinator.grpc.pb.h"

namespace settle {

// settle.v1.DecisionService: a participant in doubt asks for a transaction's decision.
// Thread-safe. The coordinator must outlive the service.
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

#endif  // SETTLE_SERVER_SERVICE_DECISION_SERVICE_H_
