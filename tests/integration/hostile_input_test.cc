// Input a hostile or careless client sends, from defects an outside probe found: each is refused
// with a precise status, moves no money, and is echoed only as a short, escaped prefix.

#include <fstream>
#include <limits>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "launch/local_stack.h"
#include "settle/v1/reference.pb.h"

namespace settle {
namespace {

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stack_.StartAll().ok());
    ASSERT_TRUE(stack_.OpenAccount("alice", 100).ok());
    ASSERT_TRUE(stack_.OpenAccount("bob", 0).ok());
  }

  // One balance-only branch with these postings.
  static v1::ExecuteRequest BalanceOnly(const std::string& key,
                                        std::vector<std::pair<std::string, int64_t>> postings) {
    v1::BalancePayload payload;
    for (const auto& [account, amount] : postings) {
      auto* p = payload.add_postings();
      p->set_account(account);
      p->set_amount_minor(amount);
    }
    v1::ExecuteRequest req;
    req.set_idempotency_key(key);
    req.mutable_timeout()->set_seconds(5);
    auto* b = req.add_branches();
    b->set_participant("balance");
    b->set_payload(payload.SerializeAsString());
    return req;
  }

  launch::LocalStack stack_;
};

// Negating INT64_MIN overflows: the "debit" passed the funds check and alice ended near -9.2e18.
TEST_F(HostileInputTest, ABalancePostingOfInt64MinIsRefusedAndMovesNothing) {
  for (const int64_t amount : {std::numeric_limits<int64_t>::min(), -(int64_t{1} << 53),
                               int64_t{1} << 53, std::numeric_limits<int64_t>::max()}) {
    SCOPED_TRACE(amount);
    auto r = stack_.client().Execute(
        BalanceOnly(absl::StrCat("overflow-", amount), {{"alice", amount}, {"bob", 1}}));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->outcome(), v1::OUTCOME_ABORTED);
    EXPECT_EQ(r->refused_participant(), "balance");
  }
  auto alice = stack_.Account("alice");
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice->available_minor(), 100);
  EXPECT_EQ(alice->held_minor(), 0);
  EXPECT_EQ(stack_.Account("bob")->available_minor(), 0);
  // The bound itself is allowed (and here refused only for want of funds).
  auto at_bound = stack_.client().Execute(
      BalanceOnly("at-bound", {{"alice", -(int64_t{1} << 52)}, {"bob", int64_t{1} << 52}}));
  ASSERT_TRUE(at_bound.ok());
  EXPECT_NE(at_bound->reason().find("insufficient funds"), std::string::npos) << at_bound->reason();
}

TEST_F(HostileInputTest, RegisterRefusesEndpointsThatAreNotHostAndPort) {
  for (const char* endpoint : {"127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:0", ":7101",
                               "127.0.0.1:", "127.0.0.1", "bal ance:7101", "127.0.0.1:7101/path",
                               "http://127.0.0.1:7101", "[::1:7101", "127.0.0.1:7x01", ""}) {
    SCOPED_TRACE(endpoint);
    EXPECT_EQ(stack_.client().RegisterParticipant("card", endpoint).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  for (const char* endpoint : {"127.0.0.1:7101", "localhost:65535", "[::1]:7101",
                               "balance.payments.svc.cluster.local:7101"}) {
    SCOPED_TRACE(endpoint);
    EXPECT_TRUE(stack_.client().RegisterParticipant("card", endpoint).ok());
  }
}

// Past about 8 KB an echoed value no longer fit gRPC's metadata: the caller got
// RESOURCE_EXHAUSTED "received initial metadata size exceeds limit" instead of the real code.
TEST_F(HostileInputTest, ErrorsEchoAShortEscapedPrefixOfAHugeValue) {
  const std::string huge = std::string(100000, 'x') + "\n\x01\u00e9";
  // Each refusal names the field it echoes (they named none: "transaction xxx... is not known").
  auto by_id = stack_.client().GetTransaction(huge);
  EXPECT_EQ(by_id.status().code(), absl::StatusCode::kNotFound);
  EXPECT_LT(by_id.status().message().size(), 400u);
  EXPECT_EQ(by_id.status().message().rfind("txn_id ", 0), 0u) << by_id.status();
  auto by_key = stack_.client().GetTransactionByKey(huge);
  EXPECT_EQ(by_key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_LT(by_key.status().message().size(), 400u);
  EXPECT_EQ(by_key.status().message().rfind("idempotency_key ", 0), 0u) << by_key.status();
  auto abort = stack_.client().AbortTransaction(huge, "");
  EXPECT_EQ(abort.status().code(), absl::StatusCode::kNotFound);
  auto name = stack_.client().RegisterParticipant(huge, "127.0.0.1:1");
  EXPECT_EQ(name.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(name.status().message().size(), 400u);
  EXPECT_EQ(stack_.client().DeregisterParticipant(huge).code(), absl::StatusCode::kNotFound);
  auto endpoint = stack_.client().RegisterParticipant("card", huge);
  EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(endpoint.status().message().size(), 400u);
  // The balance admin's NOT_FOUND echoed the whole name: 1 MiB came back as RESOURCE_EXHAUSTED
  // ("received initial metadata size exceeds limit").
  auto account = stack_.Account(std::string(1 << 20, 'a'));
  EXPECT_EQ(account.status().code(), absl::StatusCode::kNotFound) << account.status();
  EXPECT_LT(account.status().message().size(), 400u);
  // An unknown account with control bytes is named escaped in the balance's refusal.
  auto r = stack_.client().Execute(BalanceOnly("odd-account", {{"no\x01one", -1}, {"bob", 1}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome(), v1::OUTCOME_ABORTED);
  EXPECT_EQ(r->reason().find('\x01'), std::string::npos) << r->reason();
}

// Mixed signs, nanos out of range and seconds past the Duration and Timestamp ranges were taken
// as some other duration or time.
TEST_F(HostileInputTest, InvalidDurationsAndTimestampsAreRefusedNamingTheField) {
  client::RetryOptions once;
  once.max_attempts = 1;
  struct Dur {
    int64_t seconds;
    int32_t nanos;
  };
  for (const Dur d : {Dur{5, -1}, Dur{-5, 1}, Dur{0, 2000000000}, Dur{int64_t{1} << 40, 0}}) {
    SCOPED_TRACE(absl::StrCat(d.seconds, "s ", d.nanos, "ns"));
    v1::ExecuteRequest req =
        client::MakeTransfer(absl::StrCat("dur-", d.seconds, "-", d.nanos), "alice", "bob", 1);
    req.mutable_timeout()->set_seconds(d.seconds);
    req.mutable_timeout()->set_nanos(d.nanos);
    auto r = stack_.client().Execute(req, once);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("timeout"), std::string::npos) << r.status();
  }
  for (const Dur t : {Dur{1, -5}, Dur{1, 1000000000}, Dur{int64_t{1} << 40, 0}}) {
    SCOPED_TRACE(absl::StrCat(t.seconds, "s ", t.nanos, "ns"));
    v1::ListTransactionsRequest after;
    after.mutable_begin_after()->set_seconds(t.seconds);
    after.mutable_begin_after()->set_nanos(t.nanos);
    auto a = stack_.client().ListTransactions(after);
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(a.status().message().find("begin_after"), std::string::npos) << a.status();
    v1::ListTransactionsRequest before;
    *before.mutable_begin_before() = after.begin_after();
    EXPECT_EQ(stack_.client().ListTransactions(before).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  auto all = stack_.client().ListTransactions({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->transactions_size(), 0);  // Nothing began.
}

// An empty required id was answered NOT_FOUND, with a message that did not name the field.
TEST_F(HostileInputTest, EmptyRequiredIdsAreInvalidArgumentNamingTheField) {
  auto by_id = stack_.client().GetTransaction("");
  EXPECT_EQ(by_id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(by_id.status().message().find("txn_id"), std::string::npos) << by_id.status();
  auto by_key = stack_.client().GetTransactionByKey("");
  EXPECT_EQ(by_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(by_key.status().message().find("idempotency_key"), std::string::npos);
  auto abort = stack_.client().AbortTransaction("", "why");
  EXPECT_EQ(abort.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(abort.status().message().find("txn_id"), std::string::npos) << abort.status();
  const absl::Status deregister = stack_.client().DeregisterParticipant("");
  EXPECT_EQ(deregister.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(deregister.message().find("name"), std::string::npos) << deregister;
}

// gRPC 1.51's callback handlers answer a request that does not parse (here: invalid UTF-8 in a
// string field) with UNIMPLEMENTED before our code runs; the proto's error contract says so.
// Protobuf's own complaint goes through the JSON logger: every line of the log stays JSON.
TEST_F(HostileInputTest, AnUnparsableRequestGetsAStatusAndTheLogStaysJson) {
  auto r = stack_.client().GetTransactionByKey("bad-\xff\xfe-utf8");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
  ASSERT_TRUE(stack_.CoordinatorServing());
  std::ifstream log(stack_.dir() + "/coordinator.log");
  int lines = 0;
  for (std::string line; std::getline(log, line); ++lines) {
    EXPECT_TRUE(!line.empty() && line.front() == '{' && line.back() == '}') << line;
  }
  EXPECT_GT(lines, 0);
}

}  // namespace
}  // namespace settle
