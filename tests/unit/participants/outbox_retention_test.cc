// The outbox relay's retention: messages the broker confirmed go after their retention, in
// batches; a message still waiting for the broker stays whatever its age. No broker needed.

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "launch/wait.h"
#include "participants/outbox_relay.h"
#include "settle/v1/reference.pb.h"
#include "storage/rocks_branch_store.h"

namespace settle::participants {
namespace {

using storage::Space;

class OutboxRetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(*storage::OpenRocksBranchStore(dir_.path()));
    options_.published_retention = absl::Hours(24);
    relay_ = std::make_unique<OutboxRelay>(*store_, OutboxTarget(), options_, nullptr);
  }

  std::string Put(int n, v1::MessageState state, absl::Time published) {
    v1::OutboxMessage m;
    m.set_txn_id(absl::StrCat("s0-", n));
    m.set_state(state);
    if (state == v1::MESSAGE_STATE_PUBLISHED) m.set_published_micros(absl::ToUnixMicros(published));
    const std::string key = absl::StrCat("msg/s0-", n, "/00002");
    EXPECT_TRUE(store_
                    ->SubmitAndWait([&](storage::WorkView& v) {
                      v.Put(Space::kData, key, m.SerializeAsString());
                      return true;
                    })
                    .ok());
    return key;
  }
  bool Exists(const std::string& key) { return store_->Get(Space::kData, key)->has_value(); }

  launch::TempDir dir_;
  std::unique_ptr<storage::BranchStore> store_;
  OutboxRelayOptions options_;
  std::unique_ptr<OutboxRelay> relay_;
  const absl::Time now_ = absl::Now();
};

TEST_F(OutboxRetentionTest, RemovesOnlyConfirmedMessagesPastTheirRetention) {
  const std::string old_published = Put(1, v1::MESSAGE_STATE_PUBLISHED, now_ - absl::Hours(25));
  const std::string new_published = Put(2, v1::MESSAGE_STATE_PUBLISHED, now_ - absl::Hours(23));
  const std::string waiting = Put(3, v1::MESSAGE_STATE_READY, absl::InfinitePast());
  auto removed = relay_->SweepPublishedOnce(now_, 1000);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 1);
  EXPECT_FALSE(Exists(old_published));
  EXPECT_TRUE(Exists(new_published));
  EXPECT_TRUE(Exists(waiting));  // Never published: it must reach the broker first.
}

TEST_F(OutboxRetentionTest, RemovesAtMostOneBatchPerCall) {
  for (int i = 0; i < 25; ++i) Put(i, v1::MESSAGE_STATE_PUBLISHED, now_ - absl::Hours(48));
  EXPECT_EQ(*relay_->SweepPublishedOnce(now_, 10), 10);
  EXPECT_EQ(*relay_->SweepPublishedOnce(now_, 10), 10);
  EXPECT_EQ(*relay_->SweepPublishedOnce(now_, 10), 5);
  EXPECT_EQ(*relay_->SweepPublishedOnce(now_, 10), 0);
}

}  // namespace
}  // namespace settle::participants
