// The notification participant's outbox relay publishing to NATS JetStream: the real coordinator
// and participants, the relay in settle-participant, a real nats-server with JetStream started
// by the test. Every committed payment's message reaches the stream once, none of an aborted
// one; the server killed -9 and restarted under payments loses none; a relay killed between
// the acknowledgement and its mark publishes the batch again under the same ids, and JetStream's
// de-duplication window keeps the copies out of the stream.

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "messaging/nats_stream.h"
#include "tests/integration/broker_stack.h"
#include "tests/testing/nats_server.h"

namespace settle {
namespace {

using launch::WaitFor;

class NatsOutboxTest : public testing::PaymentResultsStack {
 protected:
  void StartBroker() override {
    SETTLE_START_NATS_OR_SKIP(server_, stack_.dir() + "/nats");
    nats_.url = server_->url();
  }
  std::vector<std::string> RelayFlags() const override { return server_->RelayFlags(); }

  // The transaction ids of every message in the stream, with duplicates counted; checks that
  // each is keyed by its transaction and carries it in its body.
  std::multiset<std::string> Received() override {
    std::multiset<std::string> ids;
    auto records = messaging::ReadNatsStream(nats_);
    EXPECT_TRUE(records.ok()) << records.status();
    if (!records.ok()) return ids;
    for (const messaging::NatsRecord& r : *records) {
      const std::string txn = r.message_id.substr(0, r.message_id.find('/'));
      EXPECT_EQ(r.key, txn) << r.message_id;
      EXPECT_NE(r.body.find(txn), std::string::npos) << r.body;
      ids.insert(txn);
    }
    return ids;
  }

  std::unique_ptr<testing::NatsServer> server_;
  messaging::NatsOptions nats_;
};

TEST_F(NatsOutboxTest, CommittedPaymentsReachTheStreamOnceAndAbortedOnesNever) {
  ExpectCommittedPaymentsReachTheBrokerOnce("nats");
}

// Payments go on from another thread while the server is killed -9, kept down until payments
// that committed meanwhile wait in the outbox, and started again on its files: every committed
// payment's message is in the stream exactly once (what was acknowledged before the kill
// survived it; what was published again was dropped by id), none of an aborted one.
TEST_F(NatsOutboxTest, AServerKilledMinus9UnderPaymentsLosesNoneAndStoresNoneTwice) {
  std::set<std::string> committed = Pay("before-", 5, 0);
  ASSERT_TRUE(WaitFor([&] { return AllPublished(); }, absl::Seconds(30)));
  std::set<std::string> during;
  std::atomic<bool> stop{false};
  std::atomic<int> paid{0};
  std::thread payer([&] {
    for (int i = 0; !stop; ++i) {  // One in five overdraws and aborts.
      const std::set<std::string> one = Pay(absl::StrCat("during-", i, "-"), 1, i % 5 == 0);
      during.insert(one.begin(), one.end());
      ++paid;
    }
  });
  ASSERT_TRUE(WaitFor([&] { return paid > 10; }, absl::Seconds(30)));
  ASSERT_TRUE(server_->Kill().ok());
  // The relay has noticed, and payments that committed since wait in the outbox.
  EXPECT_TRUE(WaitFor(
      [&] {
        return Metric("settle_outbox_broker_connected{target=\"nats\"}") == 0 &&
               Metric("settle_outbox_depth{target=\"nats\"}") >= 5;
      },
      absl::Seconds(30)));
  ASSERT_TRUE(server_->Restart().ok());
  const int at_restart = paid;
  EXPECT_TRUE(WaitFor([&] { return paid > at_restart + 10; }, absl::Seconds(30)));
  stop = true;
  payer.join();
  const size_t aborted = static_cast<size_t>(paid) - during.size();
  EXPECT_GE(aborted, 1u);
  committed.insert(during.begin(), during.end());
  ASSERT_TRUE(WaitFor([&] { return AllPublished(); }, absl::Seconds(90)));
  const std::multiset<std::string> got = Received();
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), committed) << "a message was lost";
  EXPECT_EQ(got.size(), committed.size()) << "a message is in the stream twice";
  std::printf(
      "nats-server kill -9 under payments: %zu committed payments, %zu messages in the stream, "
      "0 lost, 0 twice, none for the %zu aborted\n",
      committed.size(), got.size(), aborted);
}

// Killed -9 after JetStream acknowledged a batch and before the mark: once back, the relay
// publishes the batch again under the same ids, and the stream, within its de-duplication
// window, stores none of them twice.
TEST_F(NatsOutboxTest, ACrashBetweenAcknowledgementAndMarkAddsNoCopyToTheStream) {
  size_t before_restart = 0;
  const std::set<std::string> committed = CrashRelayBetweenConfirmAndMark([&] {
    auto records = messaging::ReadNatsStream(nats_);
    ASSERT_TRUE(records.ok()) << records.status();
    before_restart = records->size();
  });
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(WaitFor([&] { return AllPublished(committed.size()); }, absl::Seconds(90)));
  // What the stream held when the relay died, and what the restarted relay had acknowledged,
  // add up to more than there are messages: it published acknowledged ones again.
  const double after_restart =
      Metric("settle_outbox_publishes_total{target=\"nats\",result=\"confirmed\"}");
  EXPECT_GE(before_restart, 1u);
  EXPECT_GT(static_cast<double>(before_restart) + after_restart,
            static_cast<double>(committed.size()))
      << "the acknowledged, unmarked batch was not published again";
  const std::multiset<std::string> got = Received();
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), committed);
  EXPECT_EQ(got.size(), committed.size()) << "JetStream stored a republished copy";
}

}  // namespace
}  // namespace settle
