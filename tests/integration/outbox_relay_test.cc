// The notification participant's outbox relay against a real RabbitMQ broker on loopback: every
// committed payment's message reaches the queue, none of an aborted one, and a broker outage
// delays messages without losing any.

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "messaging/amqp_channel.h"
#include "tests/integration/broker_stack.h"

namespace settle {
namespace {

using launch::WaitFor;

using OutboxRelayTest = testing::BrokerStackTest;

TEST_F(OutboxRelayTest, CommittedPaymentsReachTheBrokerAndAbortedOnesNever) {
  ExpectCommittedPaymentsReachTheBrokerOnce("rabbitmq");
}

// The broker stopped, then killed -9, while payments go on: their messages wait in the outbox
// and all arrive once it is back. (The stop comes first for another reason too: RabbitMQ 3.10
// can lose a quorum queue killed -9 seconds after it was declared; see AmqpChannelTest.)
TEST_F(OutboxRelayTest, ABrokerStoppedOrKilledDelaysMessagesAndLosesNone) {
  std::set<std::string> committed = Pay("before-", 5, 0);
  ASSERT_TRUE(WaitFor([&] { return AllPublished(); }, absl::Seconds(30)));
  for (const bool kill : {false, true}) {
    SCOPED_TRACE(kill ? "killed -9" : "stopped");
    ASSERT_TRUE((kill ? broker_->Kill() : broker_->Stop()).ok());
    const std::set<std::string> during = Pay(kill ? "killed-" : "stopped-", 8, /*refused=*/2);
    committed.insert(during.begin(), during.end());
    EXPECT_FALSE(AllPublished());
    // The relay has noticed: it is disconnected and counts what waits, and for how long.
    EXPECT_TRUE(WaitFor(
        [&] {
          return Metric("settle_outbox_broker_connected{target=\"rabbitmq\"}") == 0 &&
                 Metric("settle_outbox_depth{target=\"rabbitmq\"}") == 6 &&
                 Metric("settle_outbox_oldest_age_seconds{target=\"rabbitmq\"}") > 0;
        },
        absl::Seconds(30)));
    ASSERT_TRUE(broker_->Restart().ok());
    ASSERT_TRUE(WaitFor([&] { return AllPublished(); }, absl::Seconds(90)));
  }
  const std::multiset<std::string> got = Received();
  // Every committed payment's message arrived, and nothing else did.
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), committed);
  std::printf(
      "broker stop and kill -9: %zu committed payments, %zu messages in the queue (%zu "
      "duplicates), 0 lost, none for the 4 aborted\n",
      committed.size(), got.size(), got.size() - committed.size());
}

// The notification participant killed -9 after the broker confirmed a batch and before it
// marked it published: once back, it publishes the batch again. Nothing is lost; the copies
// carry the same message ids, which the idempotent consumer drops (IdempotentConsumerTest).
TEST_F(OutboxRelayTest, ACrashBetweenConfirmAndMarkRepublishesUnderTheSameIds) {
  ExpectACrashBetweenConfirmAndMarkRepublishes();
}

}  // namespace
}  // namespace settle
