#include "proto/status_mapping.h"

#include "gtest/gtest.h"

namespace settle {
namespace {

TEST(StatusMappingTest, EveryCodeAndMessageCrossesBothWays) {
  for (int code = 0; code <= 16; ++code) {
    SCOPED_TRACE(code);
    const absl::Status s(static_cast<absl::StatusCode>(code), code == 0 ? "" : "what to do");
    const grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), code);
    EXPECT_EQ(g.error_message(), std::string(s.message()));
    EXPECT_EQ(FromGrpcStatus(g), s);
  }
}

}  // namespace
}  // namespace settle
