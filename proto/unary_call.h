#ifndef SETTLE_PROTO_UNARY_CALL_H_
#define SETTLE_PROTO_UNARY_CALL_H_

// One asynchronous unary call on gRPC's callback API, for every client of ours that fans calls
// out without a thread waiting (the coordinator's participant channel, settle-bench).

#include <memory>
#include <utility>

#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

// gRPC hands a call to the thread that runs its callback inside libgrpc, where ThreadSanitizer
// sees nothing (Debian's gRPC is not instrumented). The TSan build states that edge itself:
// everything before a call's start happens before its callback.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#include <sanitizer/tsan_interface.h>
#define SETTLE_TSAN_HAND_OVER(addr) __tsan_release(addr)
#define SETTLE_TSAN_TAKE_OVER(addr) __tsan_acquire(addr)
#endif
#endif
#ifndef SETTLE_TSAN_HAND_OVER
#define SETTLE_TSAN_HAND_OVER(addr) static_cast<void>(addr)
#define SETTLE_TSAN_TAKE_OVER(addr) static_cast<void>(addr)
#endif

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
  SETTLE_TSAN_HAND_OVER(raw);
  start(&raw->context, &raw->request, &raw->response,
        [call = std::move(call), on_done = std::move(on_done)](grpc::Status s) mutable {
          SETTLE_TSAN_TAKE_OVER(call.get());
          on_done(s, call->response);
        });
}

}  // namespace settle

#endif  // SETTLE_PROTO_UNARY_CALL_H_
