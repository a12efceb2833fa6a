// The Kafka publisher against librdkafka's mock cluster (three brokers on loopback in this
// process; no Kafka broker is packaged for Debian): what is reported persisted is in the topic
// once, keyed and in order; retried errors add no duplicate; refused messages are not counted;
// brokers down delay messages and lose none.

#include "messaging/kafka_publisher.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "messaging/kafka_mock_cluster.h"
#include "tests/testing/numbered_messages.h"

namespace settle::messaging {
namespace {

constexpr char kTopic[] = "settle.payment-results";
constexpr int kBrokers = 3;

class KafkaPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = KafkaMockCluster::Start(kBrokers, kTopic, /*partitions=*/6);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    options_.bootstrap_servers = cluster_->bootstrap_servers();
    options_.topic = kTopic;
  }

  std::unique_ptr<KafkaPublisher> Connect() {
    auto publisher = KafkaPublisher::Create(options_);
    EXPECT_TRUE(publisher.ok()) << publisher.status();
    return publisher.ok() ? std::move(*publisher) : nullptr;
  }

  static std::vector<OutboundMessage> Messages(int first, int n, int per_txn) {
    return testing::NumberedMessages(first, n, per_txn);
  }

  std::vector<KafkaRecord> ReadAll() {
    auto records = cluster_->ReadAll(absl::Seconds(30));
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? *records : std::vector<KafkaRecord>{};
  }

  static std::multiset<std::string> Ids(const std::vector<KafkaRecord>& records) {
    std::multiset<std::string> ids;
    for (const KafkaRecord& r : records) ids.insert(r.message_id);
    return ids;
  }

  std::unique_ptr<KafkaMockCluster> cluster_;
  KafkaOptions options_;
};

TEST_F(KafkaPublisherTest, ReportedMessagesAreInTheTopicOnceKeyedAndInOrder) {
  auto publisher = Connect();
  ASSERT_NE(publisher, nullptr);
  std::set<std::string> sent;
  for (int round = 0; round < 3; ++round) {
    const std::vector<OutboundMessage> batch = Messages(round * 200, 200, /*per_txn=*/4);
    auto published = publisher->PublishConfirmed(batch, absl::Now() + absl::Seconds(30));
    ASSERT_TRUE(published.ok()) << published.status();
    for (size_t i = 0; i < batch.size(); ++i) {
      EXPECT_TRUE((*published)[i]) << batch[i].message_id;
      sent.insert(batch[i].message_id);
    }
  }
  const std::vector<KafkaRecord> records = ReadAll();
  const std::multiset<std::string> ids = Ids(records);
  EXPECT_EQ(ids.size(), 600u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), sent);
  // One transaction's messages: one partition, in the order they were published.
  std::map<std::string, std::vector<const KafkaRecord*>> by_key;
  for (const KafkaRecord& r : records) by_key[r.key].push_back(&r);
  EXPECT_EQ(by_key.size(), 150u);
  for (const auto& [key, list] : by_key) {
    for (size_t k = 0; k < list.size(); ++k) {
      EXPECT_EQ(list[k]->partition, list[0]->partition) << key;
      EXPECT_EQ(list[k]->message_id, absl::StrCat(key, "/", k)) << key;
    }
  }
}

TEST_F(KafkaPublisherTest, RetriedProduceErrorsAddNoDuplicate) {
  auto publisher = Connect();
  ASSERT_NE(publisher, nullptr);
  cluster_->FailNextProduces(5, /*retriable=*/true);
  const std::vector<OutboundMessage> batch = Messages(0, 100, 1);
  auto published = publisher->PublishConfirmed(batch, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(published.ok()) << published.status();
  for (size_t i = 0; i < batch.size(); ++i) EXPECT_TRUE((*published)[i]) << batch[i].message_id;
  const std::multiset<std::string> ids = Ids(ReadAll());
  EXPECT_EQ(ids.size(), 100u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 100u);
}

TEST_F(KafkaPublisherTest, AMessageTheClusterRefusesIsNotCountedAsPublished) {
  auto publisher = Connect();
  ASSERT_NE(publisher, nullptr);
  cluster_->FailNextProduces(1, /*retriable=*/false);
  const std::vector<OutboundMessage> batch = Messages(0, 50, 1);
  auto published = publisher->PublishConfirmed(batch, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(published.ok()) << published.status();
  std::set<std::string> reported;
  for (size_t i = 0; i < batch.size(); ++i) {
    if ((*published)[i]) reported.insert(batch[i].message_id);
  }
  EXPECT_LT(reported.size(), batch.size()) << "the refused request's messages counted";
  const std::multiset<std::string> ids = Ids(ReadAll());
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), reported);
  EXPECT_EQ(ids.size(), reported.size());
}

TEST_F(KafkaPublisherTest, BrokersDownDelayMessagesAndLoseNone) {
  auto publisher = Connect();
  ASSERT_NE(publisher, nullptr);
  for (int b = 1; b <= kBrokers; ++b) ASSERT_TRUE(cluster_->SetBrokerDown(b).ok());
  // Nothing can be stored: the deadline passes with the batch unreported.
  const std::vector<OutboundMessage> first = Messages(0, 40, 2);
  auto lost = publisher->PublishConfirmed(first, absl::Now() + absl::Seconds(2));
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kDeadlineExceeded) << lost.status();
  publisher.reset();  // The relay drops a failed publisher and connects anew.
  options_.connect_timeout = absl::Seconds(2);
  EXPECT_EQ(KafkaPublisher::Create(options_).status().code(), absl::StatusCode::kUnavailable);
  for (int b = 1; b <= kBrokers; ++b) ASSERT_TRUE(cluster_->SetBrokerUp(b).ok());
  options_.connect_timeout = absl::Seconds(30);
  publisher = Connect();
  ASSERT_NE(publisher, nullptr);
  // One broker down: the partitions it leads wait for it; the others go on.
  ASSERT_TRUE(cluster_->SetBrokerDown(2).ok());
  std::vector<OutboundMessage> batch = first;  // Published again, under the same ids.
  for (const OutboundMessage& m : Messages(40, 60, 2)) batch.push_back(m);
  auto partly = publisher->PublishConfirmed(batch, absl::Now() + absl::Seconds(2));
  ASSERT_TRUE(cluster_->SetBrokerUp(2).ok());
  if (!partly.ok()) {
    EXPECT_EQ(partly.status().code(), absl::StatusCode::kDeadlineExceeded) << partly.status();
    publisher.reset();
    publisher = Connect();
    ASSERT_NE(publisher, nullptr);
    partly = publisher->PublishConfirmed(batch, absl::Now() + absl::Seconds(30));
  }
  ASSERT_TRUE(partly.ok()) << partly.status();
  for (size_t i = 0; i < batch.size(); ++i) EXPECT_TRUE((*partly)[i]) << batch[i].message_id;
  const std::multiset<std::string> ids = Ids(ReadAll());
  std::set<std::string> expected;
  for (const OutboundMessage& m : batch) expected.insert(m.message_id);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), expected) << "a message was lost";
  RecordProperty("duplicates", static_cast<int>(ids.size() - expected.size()));
  std::printf(
      "kafka, brokers down: %zu messages, %zu records, %zu duplicates (consumers drop "
      "them by id)\n",
      expected.size(), ids.size(), ids.size() - expected.size());
}

}  // namespace
}  // namespace settle::messaging
