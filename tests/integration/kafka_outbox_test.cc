// The notification participant's outbox relay publishing to Kafka: the real coordinator and
// participants, the relay in settle-participant, librdkafka's mock cluster (three brokers on
// loopback, in this test's process) as the target. Every committed payment's message reaches
// the topic, none of an aborted one; brokers down delay messages and lose none; a crash after
// the delivery report and before the mark publishes again under the same ids.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "messaging/kafka_mock_cluster.h"
#include "tests/integration/broker_stack.h"

namespace settle {
namespace {

using launch::WaitFor;

constexpr char kTopic[] = "settle.payment-results";
constexpr int kBrokers = 3;

class KafkaOutboxTest : public testing::PaymentResultsStack {
 protected:
  void StartBroker() override {
    auto cluster = messaging::KafkaMockCluster::Start(kBrokers, kTopic, /*partitions=*/6);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
  }
  std::vector<std::string> RelayFlags() const override {
    return {"--outbox_target=kafka", "--kafka_brokers=" + cluster_->bootstrap_servers(),
            absl::StrCat("--kafka_topic=", kTopic)};
  }

  // The transaction ids of every record in the topic, with duplicates counted; checks that
  // each record is keyed by its transaction and carries its message id.
  std::multiset<std::string> Received() override {
    std::multiset<std::string> ids;
    auto records = cluster_->ReadAll(absl::Seconds(30));
    EXPECT_TRUE(records.ok()) << records.status();
    if (!records.ok()) return ids;
    for (const messaging::KafkaRecord& r : *records) {
      const std::string txn = r.message_id.substr(0, r.message_id.find('/'));
      EXPECT_EQ(r.key, txn) << r.message_id;
      EXPECT_NE(r.body.find(txn), std::string::npos) << r.body;
      ids.insert(txn);
    }
    return ids;
  }

  std::unique_ptr<messaging::KafkaMockCluster> cluster_;
};

TEST_F(KafkaOutboxTest, CommittedPaymentsReachTheTopicAndAbortedOnesNever) {
  ExpectCommittedPaymentsReachTheBrokerOnce("kafka");
}

// Every broker down while payments go on, then one: the messages wait in the outbox, and all
// arrive once the cluster is whole again.
TEST_F(KafkaOutboxTest, BrokersDownDelayMessagesAndLoseNone) {
  std::set<std::string> committed = Pay("before-", 5, 0);
  ASSERT_TRUE(WaitFor([&] { return AllPublished(); }, absl::Seconds(30)));
  for (const std::vector<int>& down : {std::vector<int>{1, 2, 3}, std::vector<int>{2}}) {
    SCOPED_TRACE(absl::StrCat(down.size(), " brokers down"));
    for (int b : down) ASSERT_TRUE(cluster_->SetBrokerDown(b).ok());
    const std::set<std::string> during =
        Pay(absl::StrCat("down", down.size(), "-"), 8, /*refused=*/2);
    committed.insert(during.begin(), during.end());
    if (down.size() == kBrokers) {
      EXPECT_FALSE(AllPublished());
      // The relay has noticed: it is disconnected and counts what waits.
      EXPECT_TRUE(WaitFor(
          [&] {
            return Metric("settle_outbox_broker_connected{target=\"kafka\"}") == 0 &&
                   Metric("settle_outbox_depth{target=\"kafka\"}") == 6;
          },
          absl::Seconds(60)));
    }
    for (int b : down) ASSERT_TRUE(cluster_->SetBrokerUp(b).ok());
    ASSERT_TRUE(WaitFor([&] { return AllPublished(); }, absl::Seconds(90)));
  }
  const std::multiset<std::string> got = Received();
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), committed) << "a message was lost";
  std::printf(
      "kafka brokers down (3 of 3, then 1 of 3): %zu committed payments, %zu records in the "
      "topic (%zu duplicates), 0 lost, none for the 4 aborted\n",
      committed.size(), got.size(), got.size() - committed.size());
}

// Killed -9 after the delivery reports and before the mark: once back, the relay publishes the
// batch again under the same ids (consumers drop the copies by id).
TEST_F(KafkaOutboxTest, ACrashBetweenReportAndMarkRepublishesUnderTheSameIds) {
  ExpectACrashBetweenConfirmAndMarkRepublishes();
}

}  // namespace
}  // namespace settle
