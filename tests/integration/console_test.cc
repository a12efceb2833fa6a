// The operator's console in a real browser: Debian's headless Chromium, driven by puppeteer-core
// (tests/console/console_test.mjs), against the real coordinator and participants on loopback
// with TLS and tokens. The stack is seeded here (thousands of payments, a parked saga, a key
// that holds markup); the browser finds, resolves and audits; this side checks the outcome.

#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/settle_client.h"
#include "gtest/gtest.h"
#include "launch/local_stack.h"
#include "launch/test_pki.h"
#include "tests/testing/blackhole.h"
#include "tests/testing/browser_script.h"

namespace settle {
namespace {

using launch::LocalStack;
using launch::WaitFor;

constexpr int kSeeded = 2000;
constexpr int kTarget = 1234;  // The payment the browser looks for among the others.
constexpr char kHostileKey[] = "<script>window.__pwned = 1</script><img src=x onerror=alert(1)>";

const std::map<std::string, std::string>& Identities() {
  static const auto* ids = new std::map<std::string, std::string>{
      {"harness", "caller,operator"}, {"ops", "operator"},
      {"watcher", "viewer"},          {"settle", "coordinator"},
      {"balance-svc", "participant"},
  };
  return *ids;
}

std::string SeedKey(int i) { return absl::StrCat("order-", 100000 + i); }

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto access = launch::TestAccess::Create(stack_.dir(), Identities());
    ASSERT_TRUE(access.ok()) << access.status();
    access_ = std::make_unique<launch::TestAccess>(*std::move(access));
    stack_.EnableTls(access_->As("harness"), access_->ServerFlags(/*client_auth=*/false));
    ASSERT_TRUE(stack_
                    .StartCoordinator({"--http_listen=127.0.0.1:0",
                                       "--call_token_file=" + access_->TokenFile("settle")})
                    .ok());
    for (const char* name : {"balance", "ledger", "notification", "gateway"}) {
      ASSERT_TRUE(
          stack_.StartParticipant(name, {"--call_token_file=" + access_->TokenFile("balance-svc")})
              .ok())
          << name;
    }
    ASSERT_TRUE(stack_.RegisterAll().ok());
    ASSERT_TRUE(stack_.OpenAccount("alice", 1'000'000'000).ok());
    ASSERT_TRUE(stack_.OpenAccount("bob", 0).ok());
    ASSERT_TRUE(stack_.OpenAccount("shop", 0).ok());
  }

  // kSeeded transfers from four threads, in key order within each.
  void Seed() {
    std::atomic<int> next{0}, failed{0};
    std::vector<std::thread> payers;
    for (int t = 0; t < 4; ++t) {
      payers.emplace_back([&] {
        for (int i = next++; i < kSeeded; i = next++) {
          auto r = stack_.client().Execute(client::MakeTransfer(SeedKey(i), "alice", "bob", 1));
          if (!r.ok() || r->outcome() != v1::OUTCOME_COMMITTED) ++failed;
        }
      });
    }
    for (auto& p : payers) p.join();
    ASSERT_EQ(failed.load(), 0);
  }

  // A card payment whose receipt is refused and whose refund then fails for good: parked.
  std::string ParkedSaga(const std::string& key) {
    v1::ExecuteRequest req = client::MakeCardPayment(key, "4111-1111-1111-1111", "shop", 4200);
    v1::NotificationPayload no_recipient;
    no_recipient.set_topic("payment.settled");
    req.mutable_branches(3)->set_payload(no_recipient.SerializeAsString());
    auto r = stack_.client().Execute(req);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    EXPECT_TRUE(WaitFor([&] { return State(r->txn_id()) == v1::TXN_STATE_NEEDS_ATTENTION; }));
    return r->txn_id();
  }

  v1::TxnState State(const std::string& txn_id) {
    auto t = stack_.client().GetTransaction(txn_id);
    return t.ok() ? t->state() : v1::TXN_STATE_UNSPECIFIED;
  }

  std::unique_ptr<launch::TestAccess> access_;
  LocalStack stack_;
};

TEST_F(ConsoleTest, AnOperatorFindsResolvesAndAuditsAPaymentInARealBrowser) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  v1::GatewayConfig refunds_fail;
  refunds_fail.set_refund_delay_micros(10'000);
  refunds_fail.set_refunds_fail_for_good(true);
  ASSERT_TRUE(stack_.ConfigureGateway(refunds_fail).ok());
  const std::string parked = ParkedSaga("card-parked-for-ops");
  const std::string kept = ParkedSaga("card-parked-for-watcher");
  ASSERT_FALSE(parked.empty() || kept.empty());
  auto hostile = stack_.client().Execute(client::MakeTransfer(kHostileKey, "alice", "bob", 1));
  ASSERT_TRUE(hostile.ok()) << hostile.status();
  // A payment held undecided by a participant that never answers, for the browser to abort.
  testing::Blackhole slow;
  ASSERT_TRUE(slow.ok());
  ASSERT_TRUE(stack_.RegisterAt("slow", slow.endpoint()).ok());
  v1::ExecuteRequest held = client::MakeTransfer("held-at-the-till", "alice", "bob", 1);
  held.add_branches()->set_participant("slow");
  held.mutable_timeout()->set_seconds(120);
  absl::StatusOr<v1::ExecuteResponse> held_outcome;
  std::thread holder([&] { held_outcome = stack_.client().Execute(held); });
  absl::StatusOr<v1::Transaction> undecided;
  ASSERT_TRUE(WaitFor([&] {
    undecided = stack_.client().GetTransactionByKey("held-at-the-till");
    return undecided.ok() && undecided->state() == v1::TXN_STATE_PREPARING;
  })) << "the held payment did not begin";

  const testing::BrowserRun run = testing::RunBrowserScript(
      "console_test.mjs",
      {"SETTLE_CONSOLE_URL=https://" + stack_.coordinator_http_endpoint(),
       "SETTLE_SERVER_CERT=" + access_->server().cert, "SETTLE_OPS_TOKEN=" + access_->Token("ops"),
       "SETTLE_VIEWER_TOKEN=" + access_->Token("watcher"), "SETTLE_PARKED_TXN=" + parked,
       "SETTLE_KEPT_TXN=" + kept, "SETTLE_UNDECIDED_TXN=" + undecided->txn_id(),
       "SETTLE_TARGET_KEY=" + SeedKey(kTarget), "SETTLE_HOSTILE_KEY=" + std::string(kHostileKey)},
      stack_.dir() + "/browser.log");
  slow.Close();  // The held payment's Abort is then refused at once, not waited for.
  holder.join();
  if (run.exit_code == 77) GTEST_SKIP() << run.output;
  ASSERT_EQ(run.exit_code, 0) << "the browser test failed or did not finish; see its output above";

  // What the browser did, seen from gRPC: resolved by the operator it named, audited under the
  // token's identity; the viewer's attempt changed nothing and left no command.
  auto txn = stack_.client().GetTransaction(parked);
  ASSERT_TRUE(txn.ok()) << txn.status();
  EXPECT_EQ(txn->state(), v1::TXN_STATE_ABORTED);
  ASSERT_EQ(txn->operator_actions_size(), 1);
  EXPECT_EQ(txn->operator_actions(0).action(), "resolve");
  EXPECT_EQ(txn->operator_actions(0).operator_(), "Dana (on call)");
  EXPECT_EQ(State(kept), v1::TXN_STATE_NEEDS_ATTENTION);
  ASSERT_TRUE(held_outcome.ok()) << held_outcome.status();
  EXPECT_EQ(held_outcome->outcome(), v1::OUTCOME_ABORTED);
  EXPECT_EQ(held_outcome->reason(), "aborted by an operator: customer cancelled at the till");
  auto audit = stack_.client().ListOperatorCommands({});
  ASSERT_TRUE(audit.ok()) << audit.status();
  std::map<std::string, std::string> commands;  // Action -> its target, by ops.
  for (const v1::OperatorCommand& c : audit->commands()) {
    EXPECT_NE(c.who(), "watcher") << c.ShortDebugString();
    if (c.action() != "resolve" && c.action() != "abort") continue;
    EXPECT_EQ(c.who(), "ops");
    EXPECT_EQ(c.code(), 0) << c.ShortDebugString();
    EXPECT_TRUE(commands.emplace(c.action(), c.target()).second) << c.ShortDebugString();
  }
  EXPECT_EQ(commands, (std::map<std::string, std::string>{{"resolve", parked},
                                                          {"abort", undecided->txn_id()}}));
}

}  // namespace
}  // namespace settle
