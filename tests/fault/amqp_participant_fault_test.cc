// The bank check with the ledger reached through a real RabbitMQ broker (registered as
// amqp:<queue>, serving its calls with --amqp_requests), two-phase transfers and card sagas:
// the coordinator and the ledger killed -9, the broker stopped and killed -9, all under load.
// Once healed, the checker proves every guarantee it proves over gRPC: calls lost with the
// broker or a process were retried or aborted, never taken as votes, and each had one effect.

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "launch/rabbitmq_broker.h"
#include "tests/fault/fault_test.h"

namespace settle::fault {
namespace {

constexpr char kLedgerQueue[] = "settle.participant.ledger";

class AmqpParticipantFaultTest : public FaultTest {
 protected:
  void SetUp() override {
    SETTLE_START_BROKER_OR_SKIP(broker_, stack_.dir() + "/broker");
    ASSERT_TRUE(stack_.StartCoordinator(broker_->ClientFlags()).ok());
    for (const char* kind : {"balance", "ledger", "notification", "gateway"}) {
      ASSERT_TRUE(stack_.StartParticipant(kind, Flags(kind)).ok());
    }
    ASSERT_TRUE(stack_.RegisterAll().ok());
    ASSERT_TRUE(stack_.RegisterAt("ledger", absl::StrCat("amqp:", kLedgerQueue)).ok());
    BankOptions options;
    // Three-phase commit's termination protocol asks the other branches over gRPC: not with a
    // participant reached only through the broker (README, Modes).
    options.card_share = 0.25;
    bank_ = std::make_unique<Bank>(stack_, options);
    ASSERT_TRUE(bank_->Setup().ok());
  }

  std::vector<std::string> Flags(const std::string& kind) const {
    std::vector<std::string> flags = ParticipantFlags();
    if (kind == "ledger") {
      for (const std::string& f : broker_->ClientFlags()) flags.push_back(f);
      flags.push_back(absl::StrCat("--amqp_requests=", kLedgerQueue));
    }
    return flags;
  }

  launch::LocalStack stack_;
  std::unique_ptr<launch::RabbitMqBroker> broker_;
  std::unique_ptr<Bank> bank_;
};

TEST_F(AmqpParticipantFaultTest, CoordinatorLedgerAndBrokerFaultsUnderLoadKeepEveryGuarantee) {
  bank_->Start();
  int coordinator_kills = 0, ledger_kills = 0, broker_stops = 0, broker_kills = 0;
  // Each kind of fault twice, in a random order. The broker is stopped before it is first
  // killed: RabbitMQ 3.10 can lose a queue killed -9 seconds after it was declared.
  std::vector<int> kinds = {0, 0, 1, 1, 3, 3};
  std::shuffle(kinds.begin(), kinds.end(), rng_);
  kinds.insert(kinds.begin() + static_cast<long>(rng_() % 3), 2);
  kinds.insert(kinds.begin() + 4 + static_cast<long>(rng_() % 3), 2);
  bool broker_stopped_once = false;
  for (int kind : kinds) {
    if (kind == 3 && !broker_stopped_once) kind = 2;
    PauseRandomly(1000, 3000);
    switch (kind) {
      case 0:
        Kill(stack_.coordinator(), "coordinator");
        ASSERT_FALSE(HasFatalFailure());
        ASSERT_TRUE(stack_.StartCoordinator(broker_->ClientFlags()).ok());
        ++coordinator_kills;
        break;
      case 1:
        Kill(stack_.participant("ledger"), "ledger");
        ASSERT_FALSE(HasFatalFailure());
        PauseRandomly(200, 1000);  // Calls wait for it in its queue meanwhile.
        ASSERT_TRUE(stack_.StartParticipant("ledger", Flags("ledger")).ok());
        ++ledger_kills;
        break;
      default:
        ASSERT_TRUE((kind == 3 ? broker_->Kill() : broker_->Stop()).ok());
        PauseRandomly(300, 1500);
        ASSERT_TRUE(broker_->Restart().ok());
        broker_stopped_once = true;
        ++(kind == 3 ? broker_kills : broker_stops);
        break;
    }
    ++faults_;
  }
  PauseRandomly(1000, 2000);
  EXPECT_GT(bank_->payments(), 30);
  std::printf("ledger through RabbitMQ: %d coordinator kill -9, %d ledger kill -9, %d broker "
              "stops, %d broker kill -9\n",
              coordinator_kills, ledger_kills, broker_stops, broker_kills);
  HealAndCheck(*bank_, absl::Seconds(120));
}

}  // namespace
}  // namespace settle::fault
