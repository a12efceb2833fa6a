// The SDK's idempotent consumer against a real RabbitMQ broker: every message id acts once,
// whether it is published twice, redelivered after a crash before its ack, or refused first.

#include "client/idempotent_consumer.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "launch/rabbitmq_broker.h"
#include "launch/wait.h"
#include "storage/rocks_branch_store.h"

namespace settle::sdk {
namespace {

using storage::Space;

// Counts each message id's effect in the store, in the same batch as the dedup record.
class CountingHandler final : public MessageHandler {
 public:
  absl::Status Handle(const messaging::AmqpDelivery& m, storage::WorkView& view) override {
    if (refuse_next_ > 0) {
      --refuse_next_;
      return absl::UnavailableError("the service is not ready");
    }
    const std::string key = "effect/" + m.message_id;
    auto seen = view.Get(Space::kData, key);
    if (!seen.ok()) return seen.status();
    int n = 0;
    if (seen->has_value()) (void)absl::SimpleAtoi(**seen, &n);
    view.Put(Space::kData, key, absl::StrCat(n + 1));
    return absl::OkStatus();
  }
  int refuse_next_ = 0;
};

class IdempotentConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SETTLE_START_BROKER_OR_SKIP(broker_, dir_.Sub("broker"));
    amqp_.port = broker_->port();
    store_ = std::move(*storage::OpenRocksBranchStore(dir_.Sub("store")));
    auto channel = messaging::AmqpChannel::Connect(amqp_);
    ASSERT_TRUE(channel.ok()) << channel.status();
    channel_ = std::move(*channel);
    consumer_ = std::make_unique<IdempotentConsumer>(*store_, *channel_, handler_,
                                                     ConsumerOptions{amqp_.queue});
  }

  void Publish(const std::vector<std::string>& ids) {
    std::vector<messaging::AmqpMessage> batch;
    for (const auto& id : ids) {
      batch.emplace_back();
      batch.back().message_id = id;
      batch.back().body = "{}";
    }
    auto published = channel_->PublishConfirmed(batch, absl::Now() + absl::Seconds(30));
    ASSERT_TRUE(published.ok()) << published.status();
  }
  // Consumes until the queue is empty; the totals.
  ConsumeStats ConsumeAll() {
    ConsumeStats total;
    for (int round = 0; round < 100; ++round) {
      auto stats = consumer_->ConsumeOnce(50);
      EXPECT_TRUE(stats.ok()) << stats.status();
      if (!stats.ok()) break;
      total.handled += stats->handled;
      total.duplicates += stats->duplicates;
      total.failed += stats->failed;
      if (stats->handled + stats->duplicates + stats->failed == 0) break;
    }
    return total;
  }
  int Effects(const std::string& id) {
    auto v = store_->Get(Space::kData, "effect/" + id);
    int n = 0;
    if (v.ok() && v->has_value()) (void)absl::SimpleAtoi(**v, &n);
    return n;
  }

  launch::TempDir dir_;
  std::unique_ptr<launch::RabbitMqBroker> broker_;
  messaging::AmqpOptions amqp_;
  std::unique_ptr<storage::BranchStore> store_;
  std::unique_ptr<messaging::AmqpChannel> channel_;
  CountingHandler handler_;
  std::unique_ptr<IdempotentConsumer> consumer_;
};

TEST_F(IdempotentConsumerTest, AMessagePublishedTwiceActsOnce) {
  Publish({"s0-1/2", "s0-2/2", "s0-3/2"});
  Publish({"s0-2/2", "s0-3/2"});  // The relay republished after a lost confirm.
  const ConsumeStats stats = ConsumeAll();
  EXPECT_EQ(stats.handled, 3);
  EXPECT_EQ(stats.duplicates, 2);
  for (const char* id : {"s0-1/2", "s0-2/2", "s0-3/2"}) EXPECT_EQ(Effects(id), 1) << id;
}

// A consumer that wrote the effect but died before its ack: the broker redelivers; the dedup
// record written in the same batch as the effect makes the redelivery a no-op.
TEST_F(IdempotentConsumerTest, ARedeliveryAfterACrashBeforeTheAckIsSkipped) {
  Publish({"s0-7/2"});
  {
    auto other = messaging::AmqpChannel::Connect(amqp_);
    ASSERT_TRUE(other.ok());
    // Take the message and apply it as the consumer does (effect and dedup record in one
    // batch), then lose the channel before the ack.
    auto d = (*other)->Get(amqp_.queue);
    ASSERT_TRUE(d.ok() && d->has_value());
    ASSERT_TRUE(store_
                    ->SubmitAndWait([&](storage::WorkView& view) {
                      EXPECT_TRUE(handler_.Handle(**d, view).ok());
                      view.Put(Space::kMeta, "dedup/s0-7/2",
                               absl::StrCat(absl::ToUnixMicros(absl::Now())));
                      return true;
                    })
                    .ok());
  }  // The connection closes: the unacked message goes back to the queue.
  const ConsumeStats stats = ConsumeAll();
  EXPECT_EQ(stats.handled, 0);
  EXPECT_EQ(stats.duplicates, 1);
  EXPECT_EQ(Effects("s0-7/2"), 1);
}

TEST_F(IdempotentConsumerTest, ARefusedMessageComesAgainAndActsOnceWhenAccepted) {
  handler_.refuse_next_ = 2;
  Publish({"s0-9/2"});
  ConsumeStats total;
  ASSERT_TRUE(launch::WaitFor([&] {
    const ConsumeStats s = ConsumeAll();
    total.handled += s.handled;
    total.failed += s.failed;
    return total.handled == 1;
  }));
  EXPECT_EQ(total.failed, 2);
  EXPECT_EQ(Effects("s0-9/2"), 1);
}

TEST_F(IdempotentConsumerTest, DedupRecordsExpireAfterTheirRetention) {
  Publish({"s0-11/2", "s0-12/2"});
  ASSERT_EQ(ConsumeAll().handled, 2);
  EXPECT_EQ(*consumer_->SweepDedupOnce(absl::Now(), 100), 0);
  EXPECT_EQ(*consumer_->SweepDedupOnce(absl::Now() + absl::Hours(24 * 8), 1), 1);
  EXPECT_EQ(*consumer_->SweepDedupOnce(absl::Now() + absl::Hours(24 * 8), 100), 1);
}

}  // namespace
}  // namespace settle::sdk
