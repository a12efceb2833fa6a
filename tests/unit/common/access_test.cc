// The access check without gRPC: files parsed (and refused with the line that is wrong), each
// credential's verdict, and the method table's shape.

#include "common/access.h"

#include "common/crypto.h"
#include "gtest/gtest.h"

namespace settle {
namespace {

constexpr char kRoles[] = R"(# identity            roles
payment-api                caller
CN=Ops Team,O=Example      operator
ops.example                operator
balance                    participant,coordinator
)";

AccessPolicy Policy() {
  const std::string tokens = "payment-api " + crypto::Sha256Hex("t-api") + "\nghost " +
                             crypto::Sha256Hex("t-ghost") + "\n";
  auto p = AccessPolicy::Parse(kRoles, tokens);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

TEST(AccessTest, FilesThatDoNotParseNameTheLine) {
  auto p = AccessPolicy::Parse("payment-api caller\nlonely\n", "");
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("roles line 2"), absl::string_view::npos) << p.status();
  p = AccessPolicy::Parse("x caller,admin\n", "");
  EXPECT_NE(p.status().message().find("unknown role 'admin'"), absl::string_view::npos)
      << p.status();
  p = AccessPolicy::Parse("", "\n\nx 1234\n");
  EXPECT_NE(p.status().message().find("tokens line 3"), absl::string_view::npos) << p.status();
  EXPECT_EQ(AccessPolicy::Load("/no/such/roles", "").status().code(), absl::StatusCode::kNotFound);
}

TEST(AccessTest, ATokenIsTheIdentityAndItsRolesDecide) {
  const AccessPolicy p = Policy();
  AccessDecision d = p.Decide("/settle.v1.Coordinator/Execute", "Bearer t-api", {});
  EXPECT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.identity, "payment-api");
  d = p.Decide("/settle.v1.Coordinator/AbortTransaction", "Bearer t-api", {});
  EXPECT_EQ(d.status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(d.status.message().find("it needs operator"), absl::string_view::npos) << d.status;
  // A known token without a roles line, an unknown token, a header that is not a bearer token:
  // a bad token is refused even with a good certificate beside it.
  EXPECT_EQ(p.Decide("/settle.v1.Coordinator/Execute", "Bearer t-ghost", {}).status.code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(p.Decide("/settle.v1.Coordinator/Execute", "Bearer nope", {"payment-api"})
                .status.code(),
            absl::StatusCode::kUnauthenticated);
  d = p.Decide("/settle.v1.Coordinator/Execute", "Basic dXNlcg==", {});
  EXPECT_EQ(d.status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(d.status.message().find("dXNlcg"), absl::string_view::npos) << "echoes the secret";
}

TEST(AccessTest, ACertificateIsKnownByAnyOfItsNames) {
  const AccessPolicy p = Policy();
  AccessDecision d =
      p.Decide("/settle.v1.Registry/ListParticipants", "", {"ops.example", "CN=x"});
  EXPECT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.identity, "ops.example");
  d = p.Decide("/settle.v1.Registry/ListParticipants", "", {"x.example", "CN=Ops Team,O=Example"});
  EXPECT_EQ(d.identity, "CN=Ops Team,O=Example");
  d = p.Decide("/settle.v1.Registry/ListParticipants", "", {"x.example", "CN=x"});
  EXPECT_EQ(d.status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(d.status.message().find("CN=x"), absl::string_view::npos) << d.status;
}

TEST(AccessTest, NoCredentialIsUnauthenticatedExceptForHealth) {
  const AccessPolicy p = Policy();
  EXPECT_EQ(p.Decide("/settle.v1.Coordinator/GetTransaction", "", {}).status.code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(p.Decide("/grpc.health.v1.Health/Check", "", {}).status.ok());
  // A method no table line names is called by no one, whatever the roles.
  AccessDecision d = p.Decide("/settle.v1.Coordinator2/Execute", "", {"balance"});
  EXPECT_EQ(d.status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(d.status.message().find("no role may call it"), absl::string_view::npos) << d.status;
}

TEST(AccessTest, ServiceLinesAndMethodLines) {
  bool is_public = true;
  EXPECT_EQ(RolesFor("/settle.v1.Participant/GetBranchState", &is_public),
            (std::set<std::string>{kRoleParticipant, kRoleCoordinator}));
  EXPECT_FALSE(is_public);
  EXPECT_EQ(RolesFor("/settle.v1.Participant/Prepare", &is_public),
            (std::set<std::string>{kRoleCoordinator}));
  EXPECT_EQ(RolesFor("/settle.v1.Coordinator/Execute", &is_public),
            (std::set<std::string>{kRoleCaller, kRoleCoordinator}));
  // A service line matches its own methods only, not a longer service name.
  EXPECT_TRUE(RolesFor("/settle.v1.ParticipantX/Prepare", &is_public).empty());
  EXPECT_TRUE(RolesFor("/settle.v1.Coordinator/ExecuteMore", &is_public) ==
              std::set<std::string>{kRoleOperator});
}

}  // namespace
}  // namespace settle
