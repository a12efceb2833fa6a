// Every bad input gets a precise gRPC status from the real coordinator, and nothing is written.

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "launch/local_stack.h"

namespace settle {
namespace {

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(stack_.StartAll().ok()); }

  absl::StatusCode ExecuteCode(const v1::ExecuteRequest& req) {
    client::RetryOptions once;
    once.max_attempts = 1;
    return stack_.client().Execute(req, once).status().code();
  }

  launch::LocalStack stack_;
};

TEST_F(BadInputTest, ExecuteGetsAPreciseStatusForEachMistake) {
  struct Case {
    const char* name;
    std::function<void(v1::ExecuteRequest&)> mutate;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {"missing key", [](v1::ExecuteRequest& r) { r.clear_idempotency_key(); },
       absl::StatusCode::kInvalidArgument},
      {"no branches", [](v1::ExecuteRequest& r) { r.clear_branches(); },
       absl::StatusCode::kInvalidArgument},
      {"unknown participant",
       [](v1::ExecuteRequest& r) { r.mutable_branches(1)->set_participant("fx-gateway"); },
       absl::StatusCode::kNotFound},
      {"oversized payload",
       [](v1::ExecuteRequest& r) { r.mutable_branches(0)->set_payload(std::string(70000, 'x')); },
       absl::StatusCode::kResourceExhausted},
      {"message over the transport limit",
       [](v1::ExecuteRequest& r) {
         r.mutable_branches(0)->set_payload(std::string(5 << 20, 'x'));
       },
       absl::StatusCode::kResourceExhausted},
      {"zero timeout", [](v1::ExecuteRequest& r) { r.clear_timeout(); },
       absl::StatusCode::kInvalidArgument},
      {"absurd timeout", [](v1::ExecuteRequest& r) { r.mutable_timeout()->set_seconds(86400 * 30); },
       absl::StatusCode::kInvalidArgument},
      {"unknown mode", [](v1::ExecuteRequest& r) { r.set_mode(static_cast<v1::Mode>(9)); },
       absl::StatusCode::kInvalidArgument},
      {"a step outside a saga", [](v1::ExecuteRequest& r) { r.mutable_branches(0)->set_step(1); },
       absl::StatusCode::kInvalidArgument},
      {"a saga with a gap in its steps",
       [](v1::ExecuteRequest& r) {
         r.set_mode(v1::MODE_SAGA);
         r.mutable_branches(0)->set_step(2);
       },
       absl::StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::ExecuteRequest req = client::MakeTransfer(absl::StrCat("bad-", c.name), "a", "b", 1);
    c.mutate(req);
    EXPECT_EQ(ExecuteCode(req), c.code);
  }
  // Nothing was half-written: no transaction exists, and no participant saw a call.
  auto all = stack_.client().ListTransactions({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->transactions_size(), 0);
  for (const char* kind : {"balance", "ledger", "notification"}) {
    EXPECT_TRUE(stack_.Branches(kind)->empty()) << kind;
  }
}

TEST_F(BadInputTest, QueriesAndOperatorCallsNameWhatIsWrong) {
  EXPECT_EQ(stack_.client().GetTransaction("s0-0000000000000001").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(stack_.client().GetTransactionByKey("never-used").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(stack_.client().AbortTransaction("s0-0000000000000001", "").status().code(),
            absl::StatusCode::kNotFound);
  v1::ListTransactionsRequest list;
  list.set_page_size(100000);
  EXPECT_EQ(stack_.client().ListTransactions(list).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(stack_.client().RegisterParticipant("Bad Name", "127.0.0.1:1").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(stack_.client().RegisterParticipant("card", "no-port").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(stack_.client().DeregisterParticipant("nobody").code(), absl::StatusCode::kNotFound);
}

TEST_F(BadInputTest, RegistrationsArePersistedAcrossRestarts) {
  stack_.coordinator().Signal(SIGKILL);
  ASSERT_TRUE(stack_.coordinator().Wait(absl::Seconds(10)).has_value());
  ASSERT_TRUE(stack_.StartCoordinator().ok());
  auto participants = stack_.client().ListParticipants();
  ASSERT_TRUE(participants.ok());
  ASSERT_EQ(participants->size(), 3u);
  EXPECT_EQ((*participants)[0].name(), "balance");
  EXPECT_EQ((*participants)[0].endpoint(), stack_.participant_endpoint("balance"));
}

// The limits are flags, enforced at their boundary: one more branch, payload byte, timeout
// nanosecond or message byte than allowed is refused with the status the proto documents;
// exactly the limit is accepted. (In-flight transactions and calls per participant: at their
// boundary in the engine's unit tests, ParticipantDownTest and call_limit_test.)
TEST_F(BadInputTest, LimitsAreFlagsEnforcedAtTheirBoundary) {
  ASSERT_TRUE(stack_.StartCoordinator({"--max_branches=2", "--max_payload_bytes=100"}).ok());
  auto two = client::MakeTransfer("limit-branches-2", "a", "b", 1);
  two.mutable_branches()->RemoveLast();
  EXPECT_EQ(ExecuteCode(two), absl::StatusCode::kOk);
  auto three = client::MakeTransfer("limit-branches-3", "a", "b", 1);
  EXPECT_EQ(ExecuteCode(three), absl::StatusCode::kInvalidArgument);
  for (const auto& [bytes, code] : {std::pair{100, absl::StatusCode::kOk},
                                    std::pair{101, absl::StatusCode::kResourceExhausted}}) {
    auto req = client::MakeTransfer(absl::StrCat("limit-payload-", bytes), "a", "b", 1);
    req.mutable_branches()->RemoveLast();
    req.mutable_branches(1)->set_payload(std::string(bytes, 'x'));  // The ledger votes NO.
    EXPECT_EQ(ExecuteCode(req), code) << bytes << " payload bytes";
  }

  // The timeout's range: 1 ms up to --max_txn_timeout, both ends included.
  ASSERT_TRUE(stack_.StartCoordinator({"--max_txn_timeout=3s"}).ok());
  for (const auto& [nanos, code] :
       {std::pair{int64_t{999'999}, absl::StatusCode::kInvalidArgument},
        std::pair{int64_t{1'000'000}, absl::StatusCode::kOk},
        std::pair{int64_t{3'000'000'000}, absl::StatusCode::kOk},
        std::pair{int64_t{3'000'000'001}, absl::StatusCode::kInvalidArgument}}) {
    auto req = client::MakeTransfer(absl::StrCat("limit-timeout-", nanos), "a", "b", 1);
    req.mutable_timeout()->set_seconds(nanos / 1'000'000'000);
    req.mutable_timeout()->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
    EXPECT_EQ(ExecuteCode(req), code) << "a timeout of " << nanos << " ns";
  }

  ASSERT_TRUE(stack_.StartCoordinator({"--max_message_bytes=65536"}).ok());
  for (const auto& [bytes, code] : {std::pair{60000, absl::StatusCode::kOk},
                                    std::pair{66000, absl::StatusCode::kResourceExhausted}}) {
    auto req = client::MakeTransfer(absl::StrCat("limit-message-", bytes), "a", "b", 1);
    req.mutable_branches(2)->set_payload(std::string(bytes, 'x'));
    EXPECT_EQ(ExecuteCode(req), code) << "a message with a " << bytes << "-byte payload";
  }

  // A limit out of its range stops the start with the reason.
  EXPECT_FALSE(stack_.StartCoordinator({"--max_branches=0"}).ok());
}

}  // namespace
}  // namespace settle
