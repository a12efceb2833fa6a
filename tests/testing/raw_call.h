#ifndef SETTLE_TESTS_TESTING_RAW_CALL_H_
#define SETTLE_TESTS_TESTING_RAW_CALL_H_

// One unary call by method path with a raw request body, for tests that reach every method of a
// service from its descriptor (the access table, hostile traffic). Blocks until the answer.

#include <future>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/generic/generic_stub.h"

namespace settle::testing {

// `method` is "/package.Service/Method"; `body` any bytes, even an empty message.
inline grpc::Status RawCall(grpc::GenericStub& stub, const std::string& method,
                            const std::string& body, absl::Duration timeout,
                            const std::vector<std::pair<std::string, std::string>>& metadata = {}) {
  grpc::ClientContext ctx;
  for (const auto& [k, v] : metadata) ctx.AddMetadata(k, v);
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::Slice slice(body);  // A default ByteBuffer would be no message at all.
  grpc::ByteBuffer request(&slice, 1), response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

}  // namespace settle::testing

#endif  // SETTLE_TESTS_TESTING_RAW_CALL_H_
