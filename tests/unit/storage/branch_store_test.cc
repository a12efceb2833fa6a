#include "storage/branch_store.h"

#include "gtest/gtest.h"
#include "storage/rocks_branch_store.h"
#include "tests/testing/wait.h"

namespace settle::storage {
namespace {

std::unique_ptr<BranchStore> OpenOrDie(const std::string& dir) {
  auto store = OpenRocksBranchStore(dir);
  EXPECT_TRUE(store.ok()) << store.status();
  return std::move(*store);
}

TEST(BranchStoreTest, UnitWritesSurviveReopen) {
  testing::TempDir dir;
  {
    auto store = OpenOrDie(dir.path());
    ASSERT_TRUE(store
                    ->SubmitAndWait([](WorkView& v) {
                      v.Put(Space::kData, "acct/a", "100");
                      v.Put(Space::kBarrier, "t/00000", "prepared");
                      return true;
                    })
                    .ok());
  }
  auto store = OpenOrDie(dir.path());
  EXPECT_EQ(store->Get(Space::kData, "acct/a")->value_or(""), "100");
  EXPECT_EQ(store->Get(Space::kBarrier, "t/00000")->value_or(""), "prepared");
}

TEST(BranchStoreTest, RejectedUnitLeavesNothing) {
  testing::TempDir dir;
  auto store = OpenOrDie(dir.path());
  ASSERT_TRUE(store
                  ->SubmitAndWait([](WorkView& v) {
                    v.Put(Space::kData, "acct/a", "100");
                    return false;
                  })
                  .ok());
  EXPECT_FALSE(store->Get(Space::kData, "acct/a")->has_value());
}

TEST(BranchStoreTest, LaterUnitsSeeEarlierUnitsBeforeTheyAreDurable) {
  testing::TempDir dir;
  auto store = OpenOrDie(dir.path());
  // Many read-modify-write units submitted at once; each must see the previous one's value
  // even when they land in the same group.
  constexpr int kUnits = 200;
  std::atomic<int> done{0};
  for (int i = 0; i < kUnits; ++i) {
    store->Submit(
        [](WorkView& v) {
          auto cur = v.Get(Space::kData, "counter");
          const int n = cur->has_value() ? std::stoi(**cur) : 0;
          v.Put(Space::kData, "counter", std::to_string(n + 1));
          return true;
        },
        [&done](absl::Status s) {
          EXPECT_TRUE(s.ok());
          done.fetch_add(1);
        });
  }
  ASSERT_TRUE(testing::WaitFor([&] { return done.load() == kUnits; }));
  EXPECT_EQ(store->Get(Space::kData, "counter")->value_or(""), std::to_string(kUnits));
}

}  // namespace
}  // namespace settle::storage
