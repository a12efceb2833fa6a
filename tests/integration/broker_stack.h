#ifndef SETTLE_TESTS_INTEGRATION_BROKER_STACK_H_
#define SETTLE_TESTS_INTEGRATION_BROKER_STACK_H_

// Fixtures for the tests of payment results through a broker: the coordinator and the three
// reference participants, the notification participant's outbox relay publishing to a broker
// the subclass starts first. BrokerStackTest: a real RabbitMQ on loopback (or the test skips
// loudly).

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "launch/http_get.h"
#include "launch/local_stack.h"
#include "launch/rabbitmq_broker.h"
#include "messaging/amqp_channel.h"

namespace settle::testing {

class PaymentResultsStack : public ::testing::Test {
 protected:
  void SetUp() override {
    StartBroker();
    if (IsSkipped() || HasFatalFailure()) return;
    const std::vector<std::function<absl::Status()>> steps = {
        [&] { return stack_.StartCoordinator(); },
        [&] { return stack_.StartParticipant("balance"); },
        [&] { return stack_.StartParticipant("ledger"); },
        [&] { return stack_.StartParticipant("notification", RelayFlags()); },
        [&] { return stack_.RegisterAll(); },
        [&] { return stack_.OpenAccount("alice", 100000); },
        [&] { return stack_.OpenAccount("bob", 0); }};
    for (const auto& step : steps) {
      const absl::Status s = step();
      ASSERT_TRUE(s.ok()) << s;
    }
  }

  virtual void StartBroker() = 0;
  // The notification participant's flags that reach the broker.
  virtual std::vector<std::string> RelayFlags() const = 0;

  // Pays `n` transfers; `refused` of them overdraw and abort. Returns the committed ids.
  std::set<std::string> Pay(const std::string& prefix, int n, int refused) {
    std::set<std::string> committed;
    for (int i = 0; i < n; ++i) {
      const bool overdraw = i < refused;
      v1::ExecuteRequest req =
          client::MakeTransfer(absl::StrCat(prefix, i), "alice", "bob", overdraw ? 10000000 : 10);
      req.set_wait_for_acks(true);
      auto r = stack_.client().Execute(req);
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) continue;
      EXPECT_EQ(r->outcome(), overdraw ? v1::OUTCOME_ABORTED : v1::OUTCOME_COMMITTED);
      if (r->outcome() == v1::OUTCOME_COMMITTED) committed.insert(r->txn_id());
    }
    return committed;
  }

  // Whether every message in the outbox is PUBLISHED (and, when `count` is given, there are
  // that many).
  bool AllPublished(std::optional<size_t> count = std::nullopt) {
    auto outbox = stack_.Outbox();
    if (!outbox.ok() || (count.has_value() && outbox->size() != *count)) return false;
    for (const auto& m : *outbox) {
      if (m.state() != v1::MESSAGE_STATE_PUBLISHED) return false;
    }
    return true;
  }

  // Restarts notification with a test-only crash point that kills it (SIGKILL) after the broker
  // confirmed a batch and before it marked it published, pays until it has died, and starts it
  // again normally (after `while_down`, if given). Returns the payments that committed: their
  // messages go out twice.
  std::set<std::string> CrashRelayBetweenConfirmAndMark(
      const std::function<void()>& while_down = nullptr) {
    std::vector<std::string> crashing = RelayFlags();
    crashing.push_back("--test_crash_point=after_publish_confirmed");
    EXPECT_TRUE(stack_.StartParticipant("notification", crashing).ok());
    std::set<std::string> committed;
    for (int i = 0; i < 4; ++i) {
      // Not waiting for acknowledgements: notification dies under these payments. Once it has
      // died, the next ones abort (or are refused): that is fine here.
      auto r = stack_.client().Execute(
          client::MakeTransfer(absl::StrCat("crash-", i), "alice", "bob", 10));
      if (r.ok() && r->outcome() == v1::OUTCOME_COMMITTED) committed.insert(r->txn_id());
    }
    EXPECT_FALSE(committed.empty());
    EXPECT_TRUE(stack_.participant("notification").Wait(absl::Seconds(60)).has_value())
        << "the crash point was never reached";
    if (while_down) while_down();
    EXPECT_TRUE(stack_.StartParticipant("notification", RelayFlags()).ok());
    return committed;
  }

  // The transaction ids of every message the broker holds (read off it), duplicates counted.
  virtual std::multiset<std::string> Received() = 0;

  // Pays 12 transfers, 4 of them refused: the 8 committed payments' messages reach the broker
  // once each, the others' never, and the relay's metrics (labelled `target`) say so.
  void ExpectCommittedPaymentsReachTheBrokerOnce(const std::string& target) {
    const std::set<std::string> committed = Pay("p-", 12, /*refused=*/4);
    ASSERT_EQ(committed.size(), 8u);
    ASSERT_TRUE(launch::WaitFor([&] { return AllPublished(); }, absl::Seconds(30)));
    const std::multiset<std::string> got = Received();
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), committed);
    EXPECT_EQ(got.size(), committed.size());
    const std::string label = absl::StrCat("target=\"", target, "\"");
    EXPECT_EQ(Metric(absl::StrCat("settle_outbox_publishes_total{", label,
                                  ",result=\"confirmed\"}")),
              8);
    EXPECT_EQ(Metric(absl::StrCat("settle_outbox_depth{", label, "}")), 0);
    EXPECT_EQ(Metric(absl::StrCat("settle_outbox_broker_connected{", label, "}")), 1);
  }

  // CrashRelayBetweenConfirmAndMark, then: once the relay is back, every committed payment's
  // message reached the broker, and the confirmed, unmarked batch went again under its ids.
  void ExpectACrashBetweenConfirmAndMarkRepublishes() {
    const std::set<std::string> committed = CrashRelayBetweenConfirmAndMark();
    ASSERT_FALSE(HasFailure());
    ASSERT_TRUE(launch::WaitFor([&] { return AllPublished(committed.size()); }, absl::Seconds(90)));
    const std::multiset<std::string> got = Received();
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), committed);
    EXPECT_GT(got.size(), committed.size()) << "the confirmed, unmarked batch was not republished";
  }

  // A sample of the notification participant's metrics, e.g. "settle_outbox_depth"; -1 if
  // absent.
  double Metric(const std::string& series) {
    return launch::MetricSample(stack_.participant_metrics_endpoint("notification"), series);
  }

  launch::LocalStack stack_;
};

class BrokerStackTest : public PaymentResultsStack {
 protected:
  void StartBroker() override {
    SETTLE_START_BROKER_OR_SKIP(broker_, stack_.dir() + "/broker");
    amqp_.port = broker_->port();
  }
  // Also settle-notifier's flags.
  std::vector<std::string> RelayFlags() const override {
    return {"--amqp_host=127.0.0.1", absl::StrCat("--amqp_port=", broker_->port())};
  }

  // Every message in the queue, acked.
  std::multiset<std::string> Received() override {
    std::multiset<std::string> ids;
    auto channel = messaging::AmqpChannel::Connect(amqp_);
    EXPECT_TRUE(channel.ok()) << channel.status();
    if (!channel.ok()) return ids;
    for (;;) {
      auto d = (*channel)->Get(amqp_.queue);
      EXPECT_TRUE(d.ok()) << d.status();
      if (!d.ok() || !d->has_value()) return ids;
      EXPECT_TRUE((*channel)->Ack((*d)->delivery_tag).ok());
      const std::string& id = (*d)->message_id;
      ids.insert(id.substr(0, id.find('/')));
    }
  }

  std::unique_ptr<launch::RabbitMqBroker> broker_;
  messaging::AmqpOptions amqp_;
};

}  // namespace settle::testing

#endif  // SETTLE_TESTS_INTEGRATION_BROKER_STACK_H_
