#include "common/shard_map.h"

#include <map>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace settle {
namespace {

// The same vectors are in sdk/python/tests/test_sdk.py (ShardsTest) and sdk/node/test/sdk.test.ts:
// every client must put a key in the same slot, or a retry could reach a shard that never saw it.
TEST(ShardMapTest, SlotsAreFnv1aOfTheKeysBytes) {
  EXPECT_EQ(SlotOfKey(""), 453u);
  EXPECT_EQ(SlotOfKey("a"), 300u);
  EXPECT_EQ(SlotOfKey("pay-1"), 423u);
  EXPECT_EQ(SlotOfKey("order-42/retry"), 813u);
  EXPECT_EQ(SlotOfKey("\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87"), 481u);  // "ключ" in UTF-8.
}

// Jump consistent hash of the slot: the same vectors in every SDK.
TEST(ShardMapTest, ASlotsShardIsItsJumpHash) {
  EXPECT_EQ(ShardOfSlot(0, 4), 0);
  EXPECT_EQ(ShardOfSlot(300, 4), 2);
  EXPECT_EQ(ShardOfSlot(1023, 4), 1);
  EXPECT_EQ(ShardOfSlot(453, 2), 0);
  EXPECT_EQ(ShardOfSlot(481, 8), 6);
  EXPECT_EQ(ShardOfSlot(700, 256), 242);
  for (uint32_t slot = 0; slot < kShardSlots; ++slot) EXPECT_EQ(ShardOfSlot(slot, 1), 0);
}

// Growing from N to N+1 shards moves only the slots the new shard takes, about 1/(N+1) of
// them; shrinking moves only the last shard's. The rest keep their shard, so only the moved
// keys are at stake when the count changes.
TEST(ShardMapTest, AnotherShardMovesOnlyTheSlotsItTakes) {
  for (int n = 1; n < 8; ++n) {
    int moved = 0;
    for (uint32_t slot = 0; slot < kShardSlots; ++slot) {
      if (ShardOfSlot(slot, n) == ShardOfSlot(slot, n + 1)) continue;
      ++moved;
      EXPECT_EQ(ShardOfSlot(slot, n + 1), n) << "slot " << slot << " moved between old shards";
    }
    EXPECT_NEAR(moved, kShardSlots / (n + 1), 40) << n << " -> " << n + 1;
  }
}

TEST(ShardMapTest, KeysSpreadOverEveryShard) {
  auto map = ShardMap::Parse("a:1,b:2,c:3,d:4");
  ASSERT_TRUE(map.ok()) << map.status();
  std::map<int, int> per_shard;
  for (int i = 0; i < 4000; ++i) ++per_shard[map->ShardOfKey(absl::StrCat("pay-", i))];
  ASSERT_EQ(per_shard.size(), 4u);
  for (const auto& [shard, n] : per_shard) EXPECT_NEAR(n, 1000, 150) << "shard " << shard;
}

TEST(ShardMapTest, APatternExpandsToTheStatefulSetsPods) {
  auto map = ShardMap::Parse("settle-coordinator-{0..2}.settle-coordinator:7070");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->endpoints(),
            (std::vector<std::string>{"settle-coordinator-0.settle-coordinator:7070",
                                      "settle-coordinator-1.settle-coordinator:7070",
                                      "settle-coordinator-2.settle-coordinator:7070"}));
  for (const char* bad : {"x-{1..3}:1", "x-{0..}:1", "x-{0..2:1", "x-{0..1}-{0..1}:1",
                          "x-{0..256}:1", "a:1,,b:2", ""}) {
    auto refused = ShardMap::Parse(bad);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ShardMapTest, AnIdGoesToItsShard) {
  auto map = ShardMap::Parse("a:1,b:2,c:3");
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(*map->ShardOfTxnId("s2-0000000000000001"), 2);
  EXPECT_EQ(*map->ShardOfTxnId("s0-00000000000000ff"), 0);
  for (const char* bad :
       {"s3-0000000000000001", "s02-0000000000000001", "eu1-0000000000000001", "s1-01", "s1"}) {
    auto refused = map->ShardOfTxnId(bad);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(refused.status().message(), "txn_id")) << refused.status();
  }
  // One coordinator owns every id, whatever its shard is called.
  auto single = ShardMap::Parse("a:1");
  EXPECT_EQ(*single->ShardOfTxnId("eu1-0000000000000001"), 0);
}

TEST(ShardMapTest, TheShardFlagTakesAPodName) {
  EXPECT_EQ(*NormalizeShardName("settle-coordinator-2"), "s2");
  EXPECT_EQ(*NormalizeShardName("3"), "s3");
  EXPECT_EQ(*NormalizeShardName("s0"), "s0");
  EXPECT_EQ(*NormalizeShardName("eu1"), "eu1");
  EXPECT_EQ(ShardIndex("s12"), 12);
  EXPECT_EQ(ShardIndex("eu1"), std::nullopt);
  for (const char* bad : {"", "S1", "pod-", "pod-256", "a_b", "pod-01x"}) {
    EXPECT_EQ(NormalizeShardName(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace settle
