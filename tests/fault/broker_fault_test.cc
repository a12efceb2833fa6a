// The bank check with payment results through a real RabbitMQ broker to settle-notifier and a
// merchant: the broker stopped and killed -9, the notification participant (and its outbox
// relay) and the notifier killed -9, all under load. Once healed, the checker proves that the
// notifier acted on exactly the committed payments' messages, each once, and that the merchant
// got every one.

#include <signal.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "launch/rabbitmq_broker.h"
#include "tests/fault/fault_test.h"
#include "tests/testing/merchant_endpoint.h"

namespace settle::fault {
namespace {

class BrokerFaultTest : public FaultTest {
 protected:
  void SetUp() override {
    SETTLE_START_BROKER_OR_SKIP(broker_, stack_.dir() + "/broker");
    ASSERT_TRUE(stack_.StartCoordinator().ok());
    for (const char* kind : {"balance", "ledger", "notification", "gateway"}) {
      ASSERT_TRUE(stack_.StartParticipant(kind, ParticipantFlags(kind)).ok());
    }
    ASSERT_TRUE(stack_.RegisterAll().ok());
    ASSERT_TRUE(stack_.StartNotifier(NotifierFlags()).ok());
    BankOptions options = MixedModes();
    options.broker = true;
    // Unpaced, the clients outrun the merchant's webhook: tens of thousands of results then
    // drain for minutes after the faults heal. A few thousand prove the same.
    options.pause_between_payments = absl::Milliseconds(50);
    options.merchant_accepted = [this] { return merchant_.Accepted(); };
    bank_ = std::make_unique<Bank>(stack_, options);
    ASSERT_TRUE(bank_->Setup().ok());
  }

  std::vector<std::string> BrokerFlags() const {
    return {"--amqp_host=127.0.0.1", absl::StrCat("--amqp_port=", broker_->port())};
  }
  std::vector<std::string> ParticipantFlags(const std::string& kind) const {
    std::vector<std::string> flags = FaultTest::ParticipantFlags();
    if (kind == "notification") {
      for (const std::string& f : BrokerFlags()) flags.push_back(f);
    }
    return flags;
  }
  std::vector<std::string> NotifierFlags() const {
    std::vector<std::string> flags = BrokerFlags();
    for (const std::string& f : merchant_.NotifierFlags(stack_.dir())) flags.push_back(f);
    flags.push_back("--retry_schedule=200ms,500ms,1s,2s,2s,2s,2s,2s,2s,2s");
    return flags;
  }

  void HealAndCheck() {
    // The backlog of results drains at the notifier's pace.
    FaultTest::HealAndCheck(*bank_, absl::Seconds(120));
  }

  launch::LocalStack stack_;
  std::unique_ptr<launch::RabbitMqBroker> broker_;
  testing::MerchantEndpoint merchant_{"whsec-bank-check"};
  std::unique_ptr<Bank> bank_;
};

TEST_F(BrokerFaultTest, BrokerStoppedAndKilledUnderLoadLosesNoPaymentResult) {
  bank_->Start();
  // Stopped first: RabbitMQ 3.10 can lose a quorum queue killed -9 seconds after it was
  // declared (AmqpChannelTest); by the first kill it has lived through a stop.
  for (int round = 0; round < 4; ++round) {
    const bool kill = round % 2 == 1;
    PauseRandomly(2000, 5000);  // Up long enough for the relay's backoff to find it.
    ASSERT_TRUE((kill ? broker_->Kill() : broker_->Stop()).ok());
    PauseRandomly(500, 2000);  // Payments go on; their messages wait in the outbox.
    ASSERT_TRUE(broker_->Restart().ok());
    ++faults_;
  }
  PauseRandomly(500, 1000);
  EXPECT_GT(bank_->payments(), 30);
  HealAndCheck();
}

TEST_F(BrokerFaultTest, RelayAndNotifierKilledUnderLoadLoseNoPaymentResult) {
  bank_->Start();
  for (int round = 0; round < 6; ++round) {
    PauseRandomly(300, 1200);
    if (round % 2 == 0) {
      // The notification participant: a 2PC participant and the outbox relay in one process.
      Kill(stack_.participant("notification"), "notification");
      ASSERT_FALSE(HasFatalFailure());
      ASSERT_TRUE(stack_.StartParticipant("notification", ParticipantFlags("notification")).ok());
    } else {
      Kill(stack_.notifier(), "settle-notifier");
      ASSERT_FALSE(HasFatalFailure());
      ASSERT_TRUE(stack_.StartNotifier(NotifierFlags()).ok());
    }
    ++faults_;
  }
  PauseRandomly(500, 1000);
  EXPECT_GT(bank_->payments(), 30);
  HealAndCheck();
}

}  // namespace
}  // namespace settle::fault
