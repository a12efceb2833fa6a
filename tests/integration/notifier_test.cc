// settle-notifier end to end: payments through the coordinator, the notification participant's
// outbox relay, a real RabbitMQ broker, settle-notifier, and a merchant's webhook endpoint run by
// the test that fails, hangs or accepts on demand and checks every signature.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "launch/http_get.h"
#include "tests/integration/broker_stack.h"
#include "tests/testing/browser_script.h"
#include "tests/testing/merchant_endpoint.h"

namespace settle {
namespace {

using testing::MerchantEndpoint;
using launch::WaitFor;

constexpr char kKey[] = "whsec-test-0123456789";

class NotifierTest : public testing::BrokerStackTest {
 protected:
  // settle-notifier with a quick schedule (each wait 200 ms, +-10%) and `extra` flags.
  void StartNotifier(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> flags = RelayFlags();
    for (const std::string& f : merchant_.NotifierFlags(stack_.dir())) flags.push_back(f);
    flags.push_back("--retry_schedule=200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms");
    flags.push_back("--webhook_timeout=500ms");
    flags.insert(flags.end(), extra.begin(), extra.end());
    ASSERT_TRUE(stack_.StartNotifier(flags).ok());
  }

  // The transaction ids the merchant accepted, each with how often.
  std::map<std::string, int> AcceptedTxns() {
    std::map<std::string, int> txns;
    for (const auto& [id, n] : merchant_.Accepted()) txns[id.substr(0, id.find('/'))] += n;
    return txns;
  }
  bool AcceptedExactly(const std::set<std::string>& txns) {
    std::set<std::string> got;
    for (const auto& [txn, n] : AcceptedTxns()) got.insert(txn);
    return got == txns;
  }
  double Metric(const std::string& series) {
    return launch::MetricSample(stack_.notifier_metrics_endpoint(), series);
  }

  MerchantEndpoint merchant_{kKey};
};

TEST_F(NotifierTest, CommittedPaymentsReachTheMerchantOnceSignedAndAbortedOnesNever) {
  StartNotifier();
  const std::set<std::string> committed = Pay("p-", 9, /*refused=*/3);
  ASSERT_EQ(committed.size(), 6u);
  ASSERT_TRUE(WaitFor([&] { return AcceptedExactly(committed); }, absl::Seconds(30)));
  for (const auto& [txn, n] : AcceptedTxns()) EXPECT_EQ(n, 1) << txn;
  EXPECT_EQ(merchant_.bad_signatures(), 0);
  // The notifier records a delivery once the merchant's answer is back: just after the merchant
  // has counted it.
  absl::StatusOr<std::vector<v1::Delivery>> delivered;
  EXPECT_TRUE(WaitFor([&] {
    delivered = stack_.Deliveries(v1::DELIVERY_STATE_DELIVERED);
    return delivered.ok() && delivered->size() >= committed.size();
  }));
  ASSERT_TRUE(delivered.ok()) << delivered.status();
  EXPECT_EQ(delivered->size(), committed.size());
  // Counted once the records are written.
  const char kDelivered[] = "settle_notifier_attempts_total{result=\"delivered\"}";
  EXPECT_TRUE(WaitFor([&] { return Metric(kDelivered) == 6; })) << Metric(kDelivered);
}

// The merchant fails, then hangs past the notifier's timeout, then comes back: every result is
// delivered after it returns, signed, and none twice as the merchant sees it.
TEST_F(NotifierTest, AMerchantDownForAWhileGetsEveryResultOnceWhenItReturns) {
  merchant_.SetMode(MerchantEndpoint::Mode::kFail);
  StartNotifier();
  const std::set<std::string> committed = Pay("down-", 5, /*refused=*/1);
  auto every_delivery_failed = [&](int attempts, int status) {
    auto all = stack_.Deliveries();
    if (!all.ok() || all->size() != committed.size()) return false;
    for (const auto& d : *all) {
      int seen = 0;
      for (const auto& a : d.attempts()) seen += a.http_status() == status ? 1 : 0;
      if (d.state() != v1::DELIVERY_STATE_PENDING || seen < attempts) return false;
    }
    return true;
  };
  ASSERT_TRUE(WaitFor([&] { return every_delivery_failed(2, 503); }, absl::Seconds(30)));
  merchant_.SetMode(MerchantEndpoint::Mode::kHang);
  // A hang is a timeout: no answer (status 0), tried again on the schedule.
  ASSERT_TRUE(WaitFor([&] { return every_delivery_failed(1, 0); }, absl::Seconds(30)));
  EXPECT_TRUE(merchant_.Accepted().empty());
  merchant_.SetMode(MerchantEndpoint::Mode::kOk);
  ASSERT_TRUE(WaitFor([&] { return AcceptedExactly(committed); }, absl::Seconds(30)));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto d = stack_.Deliveries(v1::DELIVERY_STATE_DELIVERED);
        return d.ok() && d->size() == committed.size();
      },
      absl::Seconds(30)));
  for (const auto& [txn, n] : AcceptedTxns()) EXPECT_EQ(n, 1) << txn;
  EXPECT_EQ(merchant_.bad_signatures(), 0);
}

// Every attempt of the schedule fails: the delivery is dead, the CLI lists it with its attempts,
// and a resend delivers it once the merchant is back.
TEST_F(NotifierTest, AResultThatFailsEveryAttemptIsDeadLetteredAndCanBeResent) {
  merchant_.SetMode(MerchantEndpoint::Mode::kFail);
  StartNotifier({"--retry_schedule=100ms,200ms"});
  const std::set<std::string> committed = Pay("dead-", 1, 0);
  ASSERT_EQ(committed.size(), 1u);
  std::vector<v1::Delivery> dead;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto d = stack_.Deliveries(v1::DELIVERY_STATE_DEAD);
        if (d.ok()) dead = *d;
        return dead.size() == 1;
      },
      absl::Seconds(30)));
  EXPECT_EQ(dead[0].attempts_size(), 3);  // Two waits: three attempts.
  // Counted once the record is written.
  EXPECT_TRUE(WaitFor([&] { return Metric("settle_notifier_dead_letters_total") == 1; }))
      << Metric("settle_notifier_dead_letters_total");

  // Runs the CLI against the notifier.
  auto cli = [&](std::vector<std::string> args) {
    args.push_back("--at=" + stack_.notifier_endpoint());
    const launch::Ran ran =
        launch::RunToExit(launch::BinaryPath("settle"), args, stack_.dir() + "/cli.out");
    return std::make_pair(ran.exit_code, ran.output);
  };
  auto [listed, text] = cli({"deliveries", "--state=dead"});
  EXPECT_EQ(listed, 0);
  EXPECT_NE(text.find(dead[0].id() + "  dead"), std::string::npos) << text;
  EXPECT_NE(text.find("HTTP 503"), std::string::npos) << text;

  merchant_.SetMode(MerchantEndpoint::Mode::kOk);
  auto [resent, resend_text] = cli({"resend", dead[0].id()});
  EXPECT_EQ(resent, 0) << resend_text;
  ASSERT_TRUE(WaitFor([&] { return AcceptedExactly(committed); }, absl::Seconds(30)));
  auto [again, again_text] = cli({"resend", "no-such/1"});
  EXPECT_NE(again, 0);
  EXPECT_NE(again_text.find("NOT_FOUND"), std::string::npos) << again_text;
}

// The console on settle-notifier's own HTTP port, in a real browser
// (tests/console/deliveries_test.mjs): the dead letters with their attempts, and a resend that
// reaches the merchant once while the other stays dead.
TEST_F(NotifierTest, TheConsoleOnTheNotifiersPortListsDeadLettersAndResendsOne) {
  merchant_.SetMode(MerchantEndpoint::Mode::kFail);
  StartNotifier({"--retry_schedule=100ms,200ms", "--http_listen=127.0.0.1:0"});
  const std::set<std::string> committed = Pay("console-", 2, 0);
  ASSERT_EQ(committed.size(), 2u);
  std::vector<std::string> dead;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto d = stack_.Deliveries(v1::DELIVERY_STATE_DEAD);
        dead.clear();
        for (const auto& delivery : d.ok() ? *d : std::vector<v1::Delivery>{}) {
          dead.push_back(delivery.id());
        }
        return dead.size() == 2;
      },
      absl::Seconds(30)));
  merchant_.SetMode(MerchantEndpoint::Mode::kOk);
  const testing::BrowserRun run =
      testing::RunBrowserScript("deliveries_test.mjs",
                                {"SETTLE_CONSOLE_URL=http://" + stack_.notifier_http_endpoint(),
                                 "SETTLE_DEAD_IDS=" + absl::StrJoin(dead, ",")},
                                stack_.dir() + "/browser.log");
  if (run.exit_code == 77) GTEST_SKIP() << run.output;
  ASSERT_EQ(run.exit_code, 0) << "the browser test failed or did not finish; see its output above";
  const std::string resent = dead[0].substr(0, dead[0].find('/'));
  ASSERT_TRUE(WaitFor([&] { return AcceptedTxns().count(resent) == 1; }));
  EXPECT_EQ(AcceptedTxns(), (std::map<std::string, int>{{resent, 1}}));
  auto still = stack_.Deliveries(v1::DELIVERY_STATE_DEAD);
  ASSERT_TRUE(still.ok()) << still.status();
  ASSERT_EQ(still->size(), 1u);
  EXPECT_EQ((*still)[0].id(), dead[1]);
}

// The notification participant killed -9 after the broker confirmed a batch and before it was
// marked published: the batch is published again, and settle-notifier drops the copies, so the
// merchant still sees each payment once.
TEST_F(NotifierTest, ARepublishedResultIsDroppedAndReachesTheMerchantOnce) {
  StartNotifier();
  const std::set<std::string> committed = CrashRelayBetweenConfirmAndMark();
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(WaitFor([&] { return AcceptedExactly(committed); }, absl::Seconds(60)));
  ASSERT_TRUE(WaitFor([&] { return Metric("settle_notifier_duplicates_dropped_total") >= 1; },
                      absl::Seconds(60)));
  for (const auto& [txn, n] : AcceptedTxns()) EXPECT_EQ(n, 1) << txn;
  std::printf("republished after a crash: %zu committed, %g duplicates dropped, the merchant saw "
              "each once\n",
              committed.size(), Metric("settle_notifier_duplicates_dropped_total"));
}

}  // namespace
}  // namespace settle
