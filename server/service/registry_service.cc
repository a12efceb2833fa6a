#include "server/service/registry_service.h"

#include <utility>

#include "absl/time/clock.h"
#include "server/service/api_convert.h"
#include "server/service/unary_reactor.h"

namespace settle {

grpc::ServerUnaryReactor* RegistryService::RegisterParticipant(
    grpc::CallbackServerContext* context, const v1::RegisterParticipantRequest* request,
    v1::RegisterParticipantResponse* response) {
  return Audited(audit_, context, {"", "", "register", request->name(), request->endpoint()},
                 [this, request, response](engine::AuditTrail::Outcome finish) {
                   registry_.Register(
                       request->name(), request->endpoint(), absl::Now(),
                       [response, finish](absl::StatusOr<engine::ParticipantEntry> e) {
                         if (e.ok()) ToParticipantInfo(*e, response->mutable_participant());
                         finish(e.status());
                       });
                 });
}

grpc::ServerUnaryReactor* RegistryService::DeregisterParticipant(
    grpc::CallbackServerContext* context, const v1::DeregisterParticipantRequest* request,
    v1::DeregisterParticipantResponse*) {
  if (absl::Status s = RequireField(request->name(), "name"); !s.ok()) {
    return FinishWith(context, s);
  }
  return Audited(audit_, context, {"", "", "deregister", request->name(), ""},
                 [this, request](engine::AuditTrail::Outcome finish) {
                   coordinator_.Deregister(request->name(), std::move(finish));
                 });
}

grpc::ServerUnaryReactor* RegistryService::ListParticipants(
    grpc::CallbackServerContext* context, const v1::ListParticipantsRequest*,
    v1::ListParticipantsResponse* response) {
  for (const auto& e : registry_.List()) {
    v1::ParticipantInfo* info = response->add_participants();
    ToParticipantInfo(e, info);
    info->mutable_health()->set_calls_in_flight(
        static_cast<uint32_t>(coordinator_.CallsInFlight(e.record.name())));
  }
  return FinishWith(context, absl::OkStatus());
}

}  // namespace settle
