// The participant SDK's barrier retention: finished records go after their retention, in
// batches; prepared ones stay whatever their age.

#include <string>
#include <vector>

#include "client/participant_server.h"
#include "gtest/gtest.h"
#include "launch/wait.h"
#include "storage/records.pb.h"
#include "storage/rocks_branch_store.h"
#include "storage/txn_id.h"

namespace settle::sdk {
namespace {

using storage::BarrierRecord;
using storage::Space;

class NoOpHandler final : public BranchHandler {
 public:
  Vote Prepare(const BranchContext&, const std::string&, storage::WorkView&) override {
    return Vote::Yes();
  }
  absl::Status Commit(const BranchContext&, const std::string&, storage::WorkView&) override {
    return absl::OkStatus();
  }
  absl::Status Abort(const BranchContext&, const std::string&, storage::WorkView&) override {
    return absl::OkStatus();
  }
};

class BarrierSweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(*storage::OpenRocksBranchStore(dir_.path()));
    options_.barrier_retention = absl::Hours(24);
    server_ = std::make_unique<ParticipantServer>(options_, *store_, handler_);
  }

  // A barrier record of a transaction that began at `begin` and last changed at `update`.
  std::string Put(const std::string& shard, absl::Time begin, uint32_t branch,
                  storage::BarrierStateRecord state, absl::Time update) {
    return PutWithId(storage::TxnIdFor(shard, absl::ToUnixMicros(begin)), branch, state, update);
  }
  std::string PutWithId(const std::string& txn_id, uint32_t branch,
                        storage::BarrierStateRecord state, absl::Time update) {
    const std::string key = BarrierKey(txn_id, branch);
    BarrierRecord rec;
    rec.set_state(state);
    rec.set_update_micros(absl::ToUnixMicros(update));
    EXPECT_TRUE(store_
                    ->SubmitAndWait([&](storage::WorkView& v) {
                      v.Put(Space::kBarrier, key, rec.SerializeAsString());
                      return true;
                    })
                    .ok());
    return key;
  }
  bool Exists(const std::string& key) { return store_->Get(Space::kBarrier, key)->has_value(); }
  int Count() {
    int n = 0;
    EXPECT_TRUE(store_
                    ->Scan(Space::kBarrier, "", "",
                           [&](const auto&, const auto&) {
                             ++n;
                             return true;
                           })
                    .ok());
    return n;
  }

  launch::TempDir dir_;
  std::unique_ptr<storage::BranchStore> store_;
  NoOpHandler handler_;
  ParticipantOptions options_;
  std::unique_ptr<ParticipantServer> server_;
  const absl::Time now_ = absl::Now();
  const absl::Time old_ = now_ - absl::Hours(48);
};

TEST_F(BarrierSweepTest, RemovesOnlyFinishedRecordsPastTheirRetention) {
  const std::string committed = Put("s0", old_, 0, storage::BARRIER_COMMITTED, old_);
  const std::string aborted = Put("s0", old_, 1, storage::BARRIER_ABORTED, old_);
  const std::string legacy = PutWithId("not-an-id", 0, storage::BARRIER_COMMITTED, old_);
  // In doubt for two days: its decision is still to come, so it must stay.
  const std::string prepared = Put("s0", old_, 2, storage::BARRIER_PREPARED, old_);
  // Began long ago but finished within the retention.
  const std::string late = Put("s1", old_, 0, storage::BARRIER_COMMITTED, now_);
  const std::string recent = Put("s1", now_, 0, storage::BARRIER_COMMITTED, now_);

  auto removed = server_->SweepBarriersOnce(now_, 1000);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 3);
  EXPECT_FALSE(Exists(committed));
  EXPECT_FALSE(Exists(aborted));
  EXPECT_FALSE(Exists(legacy));
  EXPECT_TRUE(Exists(prepared));
  EXPECT_TRUE(Exists(late));
  EXPECT_TRUE(Exists(recent));
  EXPECT_EQ(*server_->SweepBarriersOnce(now_, 1000), 0);
}

// A shard's ids grow with begin time, so the sweep stops reading a shard at its first id that
// began after the cutoff and goes on with the next shard. Shown by records whose update time
// (a participant clock far behind the coordinator's) is old although their id is recent: they
// are not read, so they stay, while the next shard's old records go.
TEST_F(BarrierSweepTest, SkipsTheRecentPartOfEveryShard) {
  const std::string skipped = Put("s0", now_, 0, storage::BARRIER_COMMITTED, old_);
  const std::string s1_old = Put("s1", old_, 0, storage::BARRIER_COMMITTED, old_);
  const std::string s1_skipped = Put("s1", now_, 0, storage::BARRIER_COMMITTED, old_);
  const std::string s2_old = Put("s2", old_, 0, storage::BARRIER_ABORTED, old_);

  auto removed = server_->SweepBarriersOnce(now_, 1000);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 2);
  EXPECT_TRUE(Exists(skipped));
  EXPECT_TRUE(Exists(s1_skipped));
  EXPECT_FALSE(Exists(s1_old));
  EXPECT_FALSE(Exists(s2_old));
}

TEST_F(BarrierSweepTest, RemovesABacklogInBatches) {
  for (int i = 0; i < 250; ++i) {
    Put("s0", old_ + absl::Microseconds(i), 0, storage::BARRIER_COMMITTED, old_);
  }
  const std::string prepared = Put("s0", old_, 7, storage::BARRIER_PREPARED, old_);
  std::vector<int> batches;
  for (int i = 0; i < 5; ++i) batches.push_back(*server_->SweepBarriersOnce(now_, 100));
  EXPECT_EQ(batches, (std::vector<int>{100, 100, 50, 0, 0}));
  EXPECT_EQ(Count(), 1);
  EXPECT_TRUE(Exists(prepared));
}

// The background thread sweeps on its own, at the configured interval.
TEST_F(BarrierSweepTest, BackgroundWorkSweepsByItself) {
  const std::string committed = Put("s0", old_, 0, storage::BARRIER_COMMITTED, old_);
  const std::string prepared = Put("s0", old_, 1, storage::BARRIER_PREPARED, old_);
  options_.barrier_sweep_interval = absl::Milliseconds(20);
  server_ = std::make_unique<ParticipantServer>(options_, *store_, handler_);
  server_->StartBackgroundWork();
  ASSERT_TRUE(launch::WaitFor([&] { return !Exists(committed); }));
  EXPECT_TRUE(Exists(prepared));
}

}  // namespace
}  // namespace settle::sdk
