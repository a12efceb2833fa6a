#include "server/service/decision_service.h"

#include "server/service/api_convert.h"
#include "server/service/unary_reactor.h"

namespace settle {

grpc::ServerUnaryReactor* DecisionService::GetDecision(grpc::CallbackServerContext* context,
                                                       const v1::GetDecisionRequest* request,
                                                       v1::GetDecisionResponse* response) {
  if (absl::Status s = RequireField(request->txn_id(), "txn_id"); !s.ok()) {
    return FinishWith(context, s);
  }
  return FinishWith(
      context, coordinator_.GetDecision(request->txn_id()), [response](engine::Decision d) {
        response->set_decision(d == engine::Decision::kCommit  ? v1::DECISION_COMMIT
                               : d == engine::Decision::kAbort ? v1::DECISION_ABORT
                                                               : v1::DECISION_UNDECIDED);
      });
}

}  // namespace settle
