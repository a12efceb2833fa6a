#ifndef SETTLE_SERVER_SERVICE_UNARY_REACTOR_H_
#define SETTLE_SERVER_SERVICE_UNARY_REACTOR_H_

// How every unary adapter in server/service ends: the call's default reactor finished with the
// engine's status, mapped to gRPC's, or with OK once the response is filled; and an operator
// command handed to the audit trail under the caller's identity.

#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/credentials.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "proto/status_mapping.h"
#include "server/engine/audit_trail.h"

namespace settle {

// Finishes the call with `s`.
inline grpc::ServerUnaryReactor* FinishWith(grpc::CallbackServerContext* context,
                                            const absl::Status& s) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(s));
  return reactor;
}

// Finishes the call with `s`'s error, or with OK after `fill(value)`.
template <typename T, typename Fill>
grpc::ServerUnaryReactor* FinishWith(grpc::CallbackServerContext* context, absl::StatusOr<T> s,
                                     Fill fill) {
  if (s.ok()) fill(*s);
  return FinishWith(context, s.status());
}

// Runs `command` through the audit trail (recorded and synced before `run`, outcome added
// after; engine::AuditTrail::Run) as the caller, and finishes the call with its outcome.
inline grpc::ServerUnaryReactor* Audited(
    engine::AuditTrail& audit, grpc::CallbackServerContext* context,
    engine::AuditTrail::Command command,
    std::function<void(engine::AuditTrail::Outcome finish)> run) {
  auto* reactor = context->DefaultReactor();
  command.who = CallerIdentity(*context);
  audit.Run(std::move(command), std::move(run),
            [reactor](absl::Status s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_UNARY_REACTOR_H_
