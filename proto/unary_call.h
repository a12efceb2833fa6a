#ifndef SETTLE_PROTO_UNARY_CALL_H_
#define SETTLE_PROTO_UNARY_CALL_H_

// One asynchronous unary call on gRPC's callback API, for every client of ours that fans calls
// out without a thread waiting (the coordinator's participant channel, settle-bench).

#include <memory>
#include <utility>

#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace settle {

// A call's context, request and response: gRPC uses them until the completion callback runs,
// so the call owns them (shared with that callback).
template <typename Req, typename Resp>
struct UnaryCall {
  grpc::ClientContext context;
  Req request;
  Resp response;
};

// Starts `start(&context, &request, &response, callback)`, typically a lambda over a stub's
// async()->Method, with `deadline`; `on_done(status, response)` runs once, on a gRPC thread.
template <typename Req, typename Resp, typename Start, typename OnDone>
void StartUnaryCall(Start start, absl::Time deadline, std::shared_ptr<UnaryCall<Req, Resp>> call,
                    OnDone on_done) {
  call->context.set_deadline(absl::ToChronoTime(deadline));
  UnaryCall<Req, Resp>* raw = call.get();
  start(&raw->context, &raw->request, &raw->response,
        [call = std::move(call), on_done = std::move(on_done)](grpc::Status s) mutable {
          on_done(s, call->response);
        });
}

}  // namespace settle

#endif  // SETTLE_PROTO_UNARY_CALL_H_
