#include "server/service/coordinator_service.h"

#include <utility>

#include "proto/time_convert.h"
#include "server/service/api_convert.h"
#include "server/service/unary_reactor.h"

namespace settle {
namespace {

// A synchronous engine command that answers a transaction, as an audited one.
template <typename Fill>
std::function<void(engine::AuditTrail::Outcome)> Answer(
    std::function<absl::StatusOr<engine::TxnSnapshot>()> command, Fill fill) {
  return
      [command = std::move(command), fill = std::move(fill)](engine::AuditTrail::Outcome finish) {
        absl::StatusOr<engine::TxnSnapshot> snap = command();
        if (snap.ok()) fill(*snap);
        finish(snap.status());
      };
}

}  // namespace

grpc::ServerUnaryReactor* CoordinatorService::Execute(grpc::CallbackServerContext* context,
                                                      const v1::ExecuteRequest* request,
                                                      v1::ExecuteResponse* response) {
  auto params = ToExecuteParams(*request);
  if (!params.ok()) return FinishWith(context, params.status());
  auto* reactor = context->DefaultReactor();
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
      params.ok() ? coordinator_.List(*params)
                  : absl::StatusOr<engine::ListResult>(params.status());
  return FinishWith(context, std::move(result), [response](const engine::ListResult& r) {
    for (const auto& snap : r.transactions) ToTransaction(snap, response->add_transactions());
    response->set_next_page_token(r.next_page_token);
  });
}

grpc::ServerUnaryReactor* CoordinatorService::AbortTransaction(
    grpc::CallbackServerContext* context, const v1::AbortTransactionRequest* request,
    v1::AbortTransactionResponse* response) {
  if (absl::Status s = RequireField(request->txn_id(), "txn_id"); !s.ok()) {
    return FinishWith(context, s);
  }
  return Audited(
      audit_, context, {"", "", "abort", request->txn_id(), request->reason()},
      Answer([this, request] { return coordinator_.Abort(request->txn_id(), request->reason()); },
             [response](const engine::TxnSnapshot& s) {
               ToTransaction(s, response->mutable_transaction());
             }));
}

namespace {

// The operator's commands on a parked saga: txn_id and operator are required.
template <typename Req>
absl::Status RequireOperatorFields(const Req& request) {
  if (absl::Status s = RequireField(request.txn_id(), "txn_id"); !s.ok()) return s;
  return RequireField(request.operator_(), "operator");
}

// Retry and resolve: a parked saga's commands, by the operator the request names, audited.
template <typename Req, typename Command>
grpc::ServerUnaryReactor* ParkedCommand(engine::AuditTrail& audit,
                                        grpc::CallbackServerContext* context, const Req* request,
                                        v1::Transaction* response, const char* action,
                                        Command command) {
  if (absl::Status s = RequireOperatorFields(*request); !s.ok()) return FinishWith(context, s);
  return Audited(audit, context,
                 {"", request->operator_(), action, request->txn_id(), request->reason()},
                 Answer(
                     [request, command] {
                       return command(request->txn_id(), request->operator_(), request->reason());
                     },
                     [response](const engine::TxnSnapshot& s) { ToTransaction(s, response); }));
}

}  // namespace

grpc::ServerUnaryReactor* CoordinatorService::RetryTransaction(
    grpc::CallbackServerContext* context, const v1::RetryTransactionRequest* request,
    v1::Transaction* response) {
  return ParkedCommand(audit_, context, request, response, "retry",
                       [this](const auto&... args) { return coordinator_.RetryParked(args...); });
}

grpc::ServerUnaryReactor* CoordinatorService::ResolveTransaction(
    grpc::CallbackServerContext* context, const v1::ResolveTransactionRequest* request,
    v1::Transaction* response) {
  return ParkedCommand(audit_, context, request, response, "resolve",
                       [this](const auto&... args) { return coordinator_.Resolve(args...); });
}

grpc::ServerUnaryReactor* CoordinatorService::ListOperatorCommands(
    grpc::CallbackServerContext* context, const v1::ListOperatorCommandsRequest* request,
    v1::ListOperatorCommandsResponse* response) {
  std::string next;
  const int page_size = request->page_size() == 0 ? 100 : request->page_size();
  return FinishWith(context,
                    audit_.List(request->page_token(), page_size, request->newest_first(), &next),
                    [response, &next](const std::vector<storage::AuditRecord>& page) {
                      for (const storage::AuditRecord& r : page) {
                        v1::OperatorCommand* c = response->add_commands();
                        MicrosToProtoTime(r.micros(), c->mutable_time());
                        c->set_who(r.who());
                        c->set_on_behalf_of(r.on_behalf_of());
                        c->set_action(r.action());
                        c->set_target(r.target());
                        c->set_reason(r.reason());
                        c->set_finished(r.done());
                        c->set_code(r.code());
                        c->set_error(r.outcome());
                      }
                      response->set_next_page_token(next);
                    });
}

grpc::ServerUnaryReactor* CoordinatorService::DrainShard(grpc::CallbackServerContext* context,
                                                         const v1::DrainShardRequest* request,
                                                         v1::DrainShardResponse* response) {
  auto fill = [this, response](const engine::Coordinator::DrainReport& r) {
    response->set_shard(coordinator_.shard());
    response->set_draining(r.draining);
    response->set_unfinished(r.unfinished);
    response->set_parked(r.parked);
    response->set_empty(r.draining && r.unfinished == r.parked);
  };
  if (request->report_only()) {
    return FinishWith(
        context, absl::StatusOr<engine::Coordinator::DrainReport>(coordinator_.Drain(false)), fill);
  }
  if (absl::Status s = RequireField(request->operator_(), "operator"); !s.ok()) {
    return FinishWith(context, s);
  }
  return Audited(audit_, context,
                 {"", request->operator_(), "drain", coordinator_.shard(), request->reason()},
                 [this, fill](engine::AuditTrail::Outcome finish) {
                   fill(coordinator_.Drain(true));
                   finish(absl::OkStatus());
                 });
}

grpc::ServerUnaryReactor* CoordinatorService::GetFigures(grpc::CallbackServerContext* context,
                                                         const v1::GetFiguresRequest*,
                                                         v1::GetFiguresResponse* response) {
  const engine::Coordinator::Figures f = coordinator_.GetFigures();
  for (const engine::FigureInterval& i : f.intervals) {
    v1::FigureInterval* out = response->add_intervals();
    ToProtoTime(i.start, out->mutable_start());
    ToProtoTime(i.end, out->mutable_end());
    out->set_committed(i.committed);
    out->set_aborted(i.aborted);
    out->set_failed(i.failed);
    out->set_p50_ms(i.p50_ms);
    out->set_p90_ms(i.p90_ms);
    out->set_p99_ms(i.p99_ms);
  }
  response->set_in_flight(f.now.in_flight);
  response->set_stuck(f.now.stuck);
  response->set_needs_attention(f.now.needs_attention);
  return FinishWith(context, absl::OkStatus());
}

}  // namespace settle
