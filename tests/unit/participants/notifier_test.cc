// settle-notifier's core with a scripted webhook sender and chosen instants: what is posted and
// how it is signed, the retry schedule, dead letters and resends. No broker, no HTTP, no sleeps.

#include "participants/notifier.h"

#include <deque>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "launch/wait.h"
#include "storage/rocks_branch_store.h"

namespace settle::participants {
namespace {

constexpr char kKey[] = "key-1";

// Answers each POST with the next scripted status (200 once the script is empty) and keeps
// what was posted.
class ScriptedSender final : public messaging::WebhookSender {
 public:
  std::vector<messaging::WebhookResult> PostAll(
      const std::vector<messaging::WebhookRequest>& requests) override {
    std::vector<messaging::WebhookResult> results;
    for (const auto& r : requests) {
      posted.push_back(r);
      messaging::WebhookResult result;
      result.http_status = statuses.empty() ? 200 : statuses.front();
      if (!statuses.empty()) statuses.pop_front();
      if (!result.delivered()) result.error = absl::StrCat("HTTP ", result.http_status);
      results.push_back(result);
    }
    return results;
  }
  std::deque<int> statuses;
  std::vector<messaging::WebhookRequest> posted;
};

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(*storage::OpenRocksBranchStore(dir_.path()));
    options_.retry_schedule = {absl::Minutes(1), absl::Hours(1)};
    options_.webhooks = {{"shop-a", "http://a.example/hook"}};
    options_.signing_key = kKey;
    notifier_ = std::make_unique<Notifier>(*store_, sender_, options_, nullptr);
  }

  // Consumes the result of `txn` for `recipient` as the broker would deliver it.
  absl::Status Consume(const std::string& txn, const std::string& recipient,
                       const std::string& body_json = "") {
    v1::OutboxMessage m;
    m.set_txn_id(txn);
    m.set_branch_id(3);
    m.set_recipient(recipient);
    m.set_topic("payment.settled");
    m.set_body("{\"amount_minor\":10}");
    messaging::AmqpDelivery d;
    d.message_id = txn + "/3";
    if (body_json.empty()) {
      (void)google::protobuf::util::MessageToJsonString(m, &d.body);
    } else {
      d.body = body_json;
    }
    absl::Status handled;
    absl::Status written = store_->SubmitAndWait([&](storage::WorkView& view) {
      handled = notifier_->handler().Handle(d, view);
      return handled.ok();
    });
    return written.ok() ? handled : written;
  }
  v1::Delivery Get(const std::string& id) {
    const auto all = notifier_->List(v1::ListDeliveriesRequest());
    EXPECT_TRUE(all.ok()) << all.status();
    if (!all.ok()) return {};
    for (const auto& d : all->deliveries()) {
      if (d.id() == id) return d;
    }
    ADD_FAILURE() << "no delivery " << id;
    return {};
  }

  launch::TempDir dir_;
  std::unique_ptr<storage::BranchStore> store_;
  ScriptedSender sender_;
  NotifierOptions options_;
  std::unique_ptr<Notifier> notifier_;
  const absl::Time now_ = absl::Now() + absl::Seconds(1);  // After every result's arrival.
};

TEST_F(NotifierTest, AResultIsPostedAtOnceSignedOverTimestampAndBody) {
  ASSERT_TRUE(Consume("s0-1", "shop-a").ok());
  ASSERT_EQ(*notifier_->DeliverDueOnce(now_), 1);
  ASSERT_EQ(sender_.posted.size(), 1u);
  const messaging::WebhookRequest& r = sender_.posted[0];
  EXPECT_EQ(r.url, "http://a.example/hook");
  std::map<std::string, std::string> h(r.headers.begin(), r.headers.end());
  EXPECT_EQ(h["Settle-Event-Id"], "s0-1/3");
  EXPECT_EQ(h["Settle-Timestamp"], absl::StrCat(absl::ToUnixSeconds(now_)));
  EXPECT_EQ(h["Settle-Signature"],
            "v1=" + crypto::HmacSha256Hex(kKey, h["Settle-Timestamp"] + "." + r.body));
  v1::WebhookEvent event;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &event).ok()) << r.body;
  EXPECT_EQ(event.id(), "s0-1/3");
  EXPECT_EQ(event.txn_id(), "s0-1");
  EXPECT_EQ(event.type(), "payment.settled");
  EXPECT_EQ(event.data(), "{\"amount_minor\":10}");
  EXPECT_EQ(Get("s0-1/3").state(), v1::DELIVERY_STATE_DELIVERED);
  EXPECT_EQ(*notifier_->DeliverDueOnce(now_ + absl::Hours(100)), 0);  // Never again.
}

TEST_F(NotifierTest, FailuresWaitTheScheduleWithJitterThenTheDeliveryIsDead) {
  sender_.statuses = {503, 500, 404};
  ASSERT_TRUE(Consume("s0-2", "shop-a").ok());
  ASSERT_EQ(*notifier_->DeliverDueOnce(now_), 1);
  v1::Delivery d = Get("s0-2/3");
  EXPECT_EQ(d.state(), v1::DELIVERY_STATE_PENDING);
  const absl::Time next = absl::FromUnixMicros(d.next_attempt_micros());
  EXPECT_GE(next, now_ + absl::Seconds(54));  // One minute, +-10%.
  EXPECT_LE(next, now_ + absl::Seconds(66));
  EXPECT_EQ(*notifier_->DeliverDueOnce(next - absl::Milliseconds(1)), 0);  // Not yet due.
  ASSERT_EQ(*notifier_->DeliverDueOnce(next), 1);
  d = Get("s0-2/3");
  const absl::Time last = absl::FromUnixMicros(d.next_attempt_micros());
  EXPECT_GE(last, next + absl::Minutes(54));  // One hour, +-10%.
  ASSERT_EQ(*notifier_->DeliverDueOnce(last), 1);
  d = Get("s0-2/3");
  EXPECT_EQ(d.state(), v1::DELIVERY_STATE_DEAD);
  ASSERT_EQ(d.attempts_size(), 3);
  EXPECT_EQ(d.attempts(0).http_status(), 503);
  EXPECT_EQ(d.attempts(2).error(), "HTTP 404");
  EXPECT_EQ(*notifier_->DeliverDueOnce(last + absl::Hours(100)), 0);
}

TEST_F(NotifierTest, AResendRunsTheWholeScheduleAgainAndIsRefusedWhilePending) {
  sender_.statuses = {503, 503, 503};
  ASSERT_TRUE(Consume("s0-3", "shop-a").ok());
  absl::Time t = now_;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(*notifier_->DeliverDueOnce(t), 1);
    t = absl::FromUnixMicros(Get("s0-3/3").next_attempt_micros());
  }
  ASSERT_EQ(Get("s0-3/3").state(), v1::DELIVERY_STATE_DEAD);
  const absl::Time later = now_ + absl::Hours(30);
  auto resent = notifier_->Resend("s0-3/3", later);
  ASSERT_TRUE(resent.ok()) << resent.status();
  EXPECT_EQ(resent->state(), v1::DELIVERY_STATE_PENDING);
  EXPECT_EQ(resent->round_attempts(), 0);
  EXPECT_EQ(notifier_->Resend("s0-3/3", later).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(*notifier_->DeliverDueOnce(later), 1);  // 200 now.
  const v1::Delivery d = Get("s0-3/3");
  EXPECT_EQ(d.state(), v1::DELIVERY_STATE_DELIVERED);
  EXPECT_EQ(d.attempts_size(), 4);  // The history stays.
  EXPECT_EQ(notifier_->Resend("no-such/1", later).status().code(), absl::StatusCode::kNotFound);
  const absl::Status empty = notifier_->Resend("", later).status();
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty.message().find("id"), std::string::npos);
}

TEST_F(NotifierTest, ARecipientWithoutAWebhookIsDeadAtOnceAndSaysWhy) {
  ASSERT_TRUE(Consume("s0-4", "shop-unknown").ok());
  const v1::Delivery d = Get("s0-4/3");
  EXPECT_EQ(d.state(), v1::DELIVERY_STATE_DEAD);
  ASSERT_EQ(d.attempts_size(), 1);
  EXPECT_NE(d.attempts(0).error().find("shop-unknown"), std::string::npos);
  EXPECT_EQ(*notifier_->DeliverDueOnce(now_), 0);
}

TEST_F(NotifierTest, AMessageThatIsNotAPaymentResultIsRefusedAndRecordsNothing) {
  EXPECT_EQ(Consume("s0-5", "shop-a", "not json").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(notifier_->List(v1::ListDeliveriesRequest())->deliveries_size(), 0);
}

TEST_F(NotifierTest, ADueEntryThatPointsAtNothingDueIsDroppedNotPosted) {
  const std::string ghost = "due/00000000000000000001/ghost/1";
  ASSERT_TRUE(store_
                  ->SubmitAndWait([&](storage::WorkView& view) {
                    view.Put(storage::Space::kData, ghost, "ghost/1");
                    return true;
                  })
                  .ok());
  EXPECT_EQ(*notifier_->DeliverDueOnce(now_), 0);
  EXPECT_TRUE(sender_.posted.empty());
  EXPECT_FALSE(store_->Get(storage::Space::kData, ghost)->has_value());
}

TEST(NotifierSettingsTest, ScheduleAndWebhooksParseOrNameWhatIsWrong) {
  auto schedule = ParseRetrySchedule("30s, 2m,1h");
  ASSERT_TRUE(schedule.ok());
  EXPECT_EQ(*schedule, (std::vector<absl::Duration>{absl::Seconds(30), absl::Minutes(2),
                                                      absl::Hours(1)}));
  EXPECT_NE(ParseRetrySchedule("1m,30s").status().message().find("'30s'"), std::string::npos);
  EXPECT_NE(ParseRetrySchedule("1m,-5s").status().message().find("'-5s'"), std::string::npos);
  EXPECT_FALSE(ParseRetrySchedule("soon").ok());
  auto webhooks = ParseWebhooks("# merchants\nshop-a https://a.example/h\n\n* http://b/h\n");
  ASSERT_TRUE(webhooks.ok());
  EXPECT_EQ(webhooks->at("*"), "http://b/h");
  const absl::Status bad = ParseWebhooks("shop-a https://a/h\nshop-b ftp://b/h\n").status();
  EXPECT_NE(bad.message().find("line 2"), std::string::npos) << bad;
}

}  // namespace
}  // namespace settle::participants
