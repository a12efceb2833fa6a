#include "storage/branch_store.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "launch/wait.h"
#include "rocksdb/perf_context.h"
#include "rocksdb/perf_level.h"
#include "storage/rocks_branch_store.h"

namespace settle::storage {
namespace {

std::unique_ptr<BranchStore> OpenOrDie(const std::string& dir) {
  auto store = OpenRocksBranchStore(dir);
  EXPECT_TRUE(store.ok()) << store.status();
  return std::move(*store);
}

TEST(BranchStoreTest, UnitWritesSurviveReopen) {
  launch::TempDir dir;
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
  launch::TempDir dir;
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
  launch::TempDir dir;
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
  ASSERT_TRUE(launch::WaitFor([&] { return done.load() == kUnits; }));
  EXPECT_EQ(store->Get(Space::kData, "counter")->value_or(""), std::to_string(kUnits));
}

// A scan stays inside its prefix: the three-phase timer scan ("3/") every 100 ms must not walk
// the in-doubt index's tombstones ("p/", one per decided branch) that sort after it.
TEST(BranchStoreTest, ScanDoesNotWalkTombstonesPastItsPrefix) {
  launch::TempDir dir;
  auto store = OpenOrDie(dir.path());
  constexpr int kDecided = 1000;
  ASSERT_TRUE(store
                  ->SubmitAndWait([](WorkView& v) {
                    for (int i = 0; i <= kDecided; ++i) {
                      v.Put(Space::kMeta, absl::StrCat("p/", 100000 + i), "1");
                    }
                    return true;
                  })
                  .ok());
  ASSERT_TRUE(store
                  ->SubmitAndWait([](WorkView& v) {
                    for (int i = 0; i < kDecided; ++i) {
                      v.Delete(Space::kMeta, absl::StrCat("p/", 100000 + i));
                    }
                    return true;
                  })
                  .ok());

  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
  int timers = 0;
  ASSERT_TRUE(store
                  ->Scan(Space::kMeta, "3/", "",
                         [&](const std::string&, const std::string&) {
                           ++timers;
                           return true;
                         })
                  .ok());
  const uint64_t skipped = rocksdb::get_perf_context()->internal_delete_skipped_count;
  std::vector<std::string> prepared;
  ASSERT_TRUE(store
                  ->Scan(Space::kMeta, "p/", "",
                         [&](const std::string& key, const std::string&) {
                           prepared.push_back(key);
                           return true;
                         })
                  .ok());
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);

  EXPECT_EQ(timers, 0);
  EXPECT_EQ(skipped, 0u) << "the \"3/\" scan walked tombstones of another prefix";
  EXPECT_EQ(prepared, std::vector<std::string>{absl::StrCat("p/", 100000 + kDecided)});
}

}  // namespace
}  // namespace settle::storage
