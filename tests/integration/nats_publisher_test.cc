// The NATS JetStream publisher against a real nats-server (Debian's) with JetStream on, started
// by the test on loopback: what is acknowledged is in the stream once, with its id, key and
// content type; the stream it creates keeps messages on disk with a de-duplication window; a
// republished id within the window is acknowledged and not stored again; a server killed -9
// loses nothing it acknowledged and counts nothing it did not; an unfit stream is refused.

#include "messaging/nats_publisher.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "launch/wait.h"
#include "messaging/nats_stream.h"
#include "tests/testing/nats_server.h"
#include "tests/testing/numbered_messages.h"

namespace settle::messaging {
namespace {

class NatsPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SETTLE_START_NATS_OR_SKIP(server_, dir_.path() + "/nats");
    options_.url = server_->url();
    options_.connect_timeout = absl::Seconds(2);
  }

  std::unique_ptr<NatsPublisher> Connect() {
    auto publisher = NatsPublisher::Create(options_);
    EXPECT_TRUE(publisher.ok()) << publisher.status();
    return publisher.ok() ? std::move(*publisher) : nullptr;
  }

  static std::vector<OutboundMessage> Messages(int first, int n, int per_txn) {
    return testing::NumberedMessages(first, n, per_txn);
  }

  std::vector<NatsRecord> ReadAll() {
    auto records = ReadNatsStream(options_);
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? *records : std::vector<NatsRecord>{};
  }

  static std::multiset<std::string> Ids(const std::vector<NatsRecord>& records) {
    std::multiset<std::string> ids;
    for (const NatsRecord& r : records) ids.insert(r.message_id);
    return ids;
  }

  launch::TempDir dir_;
  std::unique_ptr<testing::NatsServer> server_;
  NatsOptions options_;
};

TEST_F(NatsPublisherTest, AcknowledgedMessagesAreInTheStreamOnceInOrderOnDisk) {
  auto publisher = Connect();
  ASSERT_NE(publisher, nullptr);
  std::vector<OutboundMessage> sent;
  for (int round = 0; round < 3; ++round) {
    const std::vector<OutboundMessage> batch = Messages(round * 200, 200, /*per_txn=*/4);
    auto published = publisher->PublishConfirmed(batch, absl::Now() + absl::Seconds(30));
    ASSERT_TRUE(published.ok()) << published.status();
    for (size_t i = 0; i < batch.size(); ++i) EXPECT_TRUE((*published)[i]) << batch[i].message_id;
    sent.insert(sent.end(), batch.begin(), batch.end());
  }
  const std::vector<NatsRecord> records = ReadAll();
  ASSERT_EQ(records.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {  // One publisher's messages, in order.
    EXPECT_EQ(records[i].message_id, sent[i].message_id);
    EXPECT_EQ(records[i].key, sent[i].key);
    EXPECT_EQ(records[i].body, sent[i].body);
    EXPECT_EQ(records[i].content_type, "application/json");
  }
  auto facts = NatsStreamInfo(options_);
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_TRUE(facts->file_storage);
  EXPECT_EQ(facts->duplicate_window, absl::Minutes(2));
}

// What a relay does after a crash between the acknowledgement and its mark: the same ids again,
// from a new connection. JetStream acknowledges them and stores none twice.
TEST_F(NatsPublisherTest, ARepublishedIdWithinTheWindowIsAcknowledgedAndStoredOnce) {
  const std::vector<OutboundMessage> batch = Messages(0, 50, /*per_txn=*/2);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto publisher = Connect();
    ASSERT_NE(publisher, nullptr);
    auto published = publisher->PublishConfirmed(batch, absl::Now() + absl::Seconds(30));
    ASSERT_TRUE(published.ok()) << published.status();
    for (size_t i = 0; i < batch.size(); ++i) EXPECT_TRUE((*published)[i]) << batch[i].message_id;
  }
  const std::multiset<std::string> ids = Ids(ReadAll());
  EXPECT_EQ(ids.size(), batch.size());
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), batch.size());
}

// Killed -9 with a publisher connected: the publish fails (nothing unacknowledged counts), a
// new publisher cannot connect while it is down, and once it is back every acknowledged
// message is still there (file storage) and the rest go in once.
TEST_F(NatsPublisherTest, AServerKilledMinus9LosesNothingAcknowledgedAndCountsNothingElse) {
  auto publisher = Connect();
  ASSERT_NE(publisher, nullptr);
  const std::vector<OutboundMessage> before = Messages(0, 100, 4);
  auto published = publisher->PublishConfirmed(before, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(published.ok()) << published.status();

  ASSERT_TRUE(server_->Kill().ok());
  const std::vector<OutboundMessage> during = Messages(100, 100, 4);
  auto failed = publisher->PublishConfirmed(during, absl::Now() + absl::Seconds(5));
  EXPECT_FALSE(failed.ok());
  EXPECT_TRUE(absl::IsUnavailable(failed.status()) || absl::IsDeadlineExceeded(failed.status()))
      << failed.status();
  publisher.reset();
  auto down = NatsPublisher::Create(options_);
  EXPECT_TRUE(absl::IsUnavailable(down.status())) << down.status();

  ASSERT_TRUE(server_->Restart().ok());
  publisher = Connect();
  ASSERT_NE(publisher, nullptr);
  std::vector<OutboundMessage> all = before;
  all.insert(all.end(), during.begin(), during.end());
  published = publisher->PublishConfirmed(all, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(published.ok()) << published.status();
  for (size_t i = 0; i < all.size(); ++i) EXPECT_TRUE((*published)[i]) << all[i].message_id;
  const std::multiset<std::string> ids = Ids(ReadAll());
  EXPECT_EQ(ids.size(), all.size()) << "a message was lost or stored twice";
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), all.size());
}

TEST_F(NatsPublisherTest, AStreamInMemoryIsRefused) {
  ASSERT_TRUE(CreateMemoryNatsStream(options_).ok());
  auto publisher = NatsPublisher::Create(options_);
  EXPECT_TRUE(absl::IsFailedPrecondition(publisher.status())) << publisher.status();
  EXPECT_NE(publisher.status().message().find("memory"), std::string::npos);
}

TEST_F(NatsPublisherTest, AStreamThatDoesNotTakeTheSubjectIsRefused) {
  ASSERT_NE(Connect(), nullptr);  // Creates the stream on options_.subject.
  options_.subject = "settle.elsewhere";
  auto publisher = NatsPublisher::Create(options_);
  EXPECT_TRUE(absl::IsFailedPrecondition(publisher.status())) << publisher.status();
  EXPECT_NE(publisher.status().message().find("settle.elsewhere"), std::string::npos);
}

}  // namespace
}  // namespace settle::messaging
