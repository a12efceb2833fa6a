#include "server/service/coordinator_service.h"

#include <utility>

#include "server/service/api_convert.h"
#include "proto/status_mapping.h"

namespace settle {
namespace {

// Finishes `reactor` with `s`, or with OK after `fill` when `s` holds a value.
template <typename T, typename Fill>
grpc::ServerUnaryReactor* FinishWith(grpc::CallbackServerContext* context,
                                     absl::StatusOr<T> s, Fill fill) {
  auto* reactor = context->DefaultReactor();
  if (!s.ok()) {
    reactor->Finish(ToGrpcStatus(s.status()));
  } else {
    fill(*s);
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* CoordinatorService::Execute(grpc::CallbackServerContext* context,
                                                      const v1::ExecuteRequest* request,
                                                      v1::ExecuteResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto params = ToExecuteParams(*request);
  if (!params.ok()) {
    reactor->Finish(ToGrpcStatus(params.status()));
    return reactor;
  }
  coordinator_.Execute(*std::move(params),
                       [reactor, response](absl::StatusOr<engine::ExecuteResult> r) {
                         if (!r.ok()) return reactor->Finish(ToGrpcStatus(r.status()));
                         ToExecuteResponse(*r, response);
                         reactor->Finish(grpc::Status::OK);
                       });
  return reactor;
}

grpc::ServerUnaryReactor* CoordinatorService::GetTransaction(
    grpc::CallbackServerContext* context, const v1::GetTransactionRequest* request,
    v1::Transaction* response) {
  absl::StatusOr<engine::TxnSnapshot> snap;
  switch (request->lookup_case()) {
    case v1::GetTransactionRequest::kTxnId:
      if (absl::Status s = RequireField(request->txn_id(), "txn_id"); !s.ok()) {
        snap = s;
      } else {
        snap = coordinator_.GetTransaction(request->txn_id());
      }
      break;
    case v1::GetTransactionRequest::kIdempotencyKey:
      if (absl::Status s = RequireField(request->idempotency_key(), "idempotency_key"); !s.ok()) {
        snap = s;
      } else {
        snap = coordinator_.GetTransactionByKey(request->idempotency_key());
      }
      break;
    default:
      snap = absl::InvalidArgumentError("give txn_id or idempotency_key");
  }
  return FinishWith(context, std::move(snap),
                    [response](const engine::TxnSnapshot& s) { ToTransaction(s, response); });
}

grpc::ServerUnaryReactor* CoordinatorService::ListTransactions(
    grpc::CallbackServerContext* context, const v1::ListTransactionsRequest* request,
    v1::ListTransactionsResponse* response) {
  auto params = ToListParams(*request);
  absl::StatusOr<engine::ListResult> result =
      params.ok() ? coordinator_.List(*params) : absl::StatusOr<engine::ListResult>(params.status());
  return FinishWith(context, std::move(result), [response](const engine::ListResult& r) {
    for (const auto& snap : r.transactions) ToTransaction(snap, response->add_transactions());
    response->set_next_page_token(r.next_page_token);
  });
}

grpc::ServerUnaryReactor* CoordinatorService::AbortTransaction(
    grpc::CallbackServerContext* context, const v1::AbortTransactionRequest* request,
    v1::AbortTransactionResponse* response) {
  if (absl::Status s = RequireField(request->txn_id(), "txn_id"); !s.ok()) {
    return FinishWith(context, absl::StatusOr<engine::TxnSnapshot>(s), [](const auto&) {});
  }
  return FinishWith(context, coordinator_.Abort(request->txn_id(), request->reason()),
                    [response](const engine::TxnSnapshot& s) {
                      ToTransaction(s, response->mutable_transaction());
                    });
}

namespace {

// The operator's commands on a parked saga: txn_id and operator are required.
template <typename Req>
absl::Status RequireOperatorFields(const Req& request) {
  if (absl::Status s = RequireField(request.txn_id(), "txn_id"); !s.ok()) return s;
  return RequireField(request.operator_(), "operator");
}

}  // namespace

grpc::ServerUnaryReactor* CoordinatorService::RetryTransaction(
    grpc::CallbackServerContext* context, const v1::RetryTransactionRequest* request,
    v1::Transaction* response) {
  absl::Status fields = RequireOperatorFields(*request);
  return FinishWith(context,
                    fields.ok() ? coordinator_.RetryParked(request->txn_id(), request->operator_(),
                                                           request->reason())
                                : absl::StatusOr<engine::TxnSnapshot>(fields),
                    [response](const engine::TxnSnapshot& s) { ToTransaction(s, response); });
}

grpc::ServerUnaryReactor* CoordinatorService::ResolveTransaction(
    grpc::CallbackServerContext* context, const v1::ResolveTransactionRequest* request,
    v1::Transaction* response) {
  absl::Status fields = RequireOperatorFields(*request);
  return FinishWith(context,
                    fields.ok() ? coordinator_.Resolve(request->txn_id(), request->operator_(),
                                                       request->reason())
                                : absl::StatusOr<engine::TxnSnapshot>(fields),
                    [response](const engine::TxnSnapshot& s) { ToTransaction(s, response); });
}

grpc::ServerUnaryReactor* RegistryService::RegisterParticipant(
    grpc::CallbackServerContext* context, const v1::RegisterParticipantRequest* request,
    v1::RegisterParticipantResponse* response) {
  auto* reactor = context->DefaultReactor();
  registry_.Register(request->name(), request->endpoint(), absl::Now(),
                     [reactor, response](absl::StatusOr<engine::ParticipantEntry> e) {
                       if (!e.ok()) return reactor->Finish(ToGrpcStatus(e.status()));
                       ToParticipantInfo(*e, response->mutable_participant());
                       reactor->Finish(grpc::Status::OK);
                     });
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::DeregisterParticipant(
    grpc::CallbackServerContext* context, const v1::DeregisterParticipantRequest* request,
    v1::DeregisterParticipantResponse*) {
  auto* reactor = context->DefaultReactor();
  if (absl::Status s = RequireField(request->name(), "name"); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  coordinator_.Deregister(request->name(), [reactor](absl::Status s) {
    reactor->Finish(ToGrpcStatus(s));
  });
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::ListParticipants(
    grpc::CallbackServerContext* context, const v1::ListParticipantsRequest*,
    v1::ListParticipantsResponse* response) {
  for (const auto& e : registry_.List()) ToParticipantInfo(e, response->add_participants());
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* DecisionService::GetDecision(grpc::CallbackServerContext* context,
                                                       const v1::GetDecisionRequest* request,
                                                       v1::GetDecisionResponse* response) {
  if (absl::Status s = RequireField(request->txn_id(), "txn_id"); !s.ok()) {
    return FinishWith(context, absl::StatusOr<engine::Decision>(s), [](engine::Decision) {});
  }
  return FinishWith(context, coordinator_.GetDecision(request->txn_id()),
                    [response](engine::Decision d) {
                      response->set_decision(d == engine::Decision::kCommit ? v1::DECISION_COMMIT
                                             : d == engine::Decision::kAbort
                                                 ? v1::DECISION_ABORT
                                                 : v1::DECISION_UNDECIDED);
                    });
}

}  // namespace settle
