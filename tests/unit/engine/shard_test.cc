// The Coordinator among shards, on fakes: it keeps to its own ids, keys and log, drains, and
// changes the number of shards without running a key twice (PreviousOwners).

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/shard_map.h"
#include "gtest/gtest.h"
#include "server/engine/coordinator.h"
#include "server/engine/id_allocator.h"
#include "tests/unit/engine/coordinator_fixture.h"

namespace settle::engine {
namespace {

// Only a transaction's own shard knows it: asked here, a presumed abort could contradict that
// shard's commit, so every call about another shard's id is refused, naming both shards.
TEST_F(CoordinatorTest, CallsAboutAnotherShardsTransactionAreRefusedNamingBothShards) {
  Start();
  const std::string theirs = "s1-00000000000000a1";
  auto expect_refused = [](const absl::Status& s) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "shard 's1'")) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "shard 's0'")) << s;
  };
  expect_refused(coordinator_->GetDecision(theirs).status());
  expect_refused(coordinator_->GetTransaction(theirs).status());
  expect_refused(coordinator_->Abort(theirs, "customer called").status());
  expect_refused(coordinator_->RetryParked(theirs, "ops", "retry").status());
  expect_refused(coordinator_->Resolve(theirs, "ops", "refunded by hand").status());
  // Ids of no shard's form are unknown everywhere: presumed abort as before.
  EXPECT_EQ(*coordinator_->GetDecision("S1-00000000000000a1"), Decision::kAbort);
  EXPECT_EQ(*coordinator_->GetDecision("s0-00000000000000a1"), Decision::kAbort);
}

// A shard of four takes only the keys it owns: a key of another shard is refused before
// anything is written, naming the owner, so a client with a wrong shard list cannot run one key
// at two shards.
TEST_F(CoordinatorTest, AShardRefusesKeysAnotherShardOwns) {
  auto balance = Participant("balance");
  options_.shard = "s1";
  options_.shard_count = 4;
  Start();
  std::string ours, theirs;
  for (int i = 0; ours.empty() || theirs.empty(); ++i) {
    const std::string key = absl::StrCat("pay-", i);
    (ShardOfSlot(SlotOfKey(key), 4) == 1 ? ours : theirs) = key;
  }
  auto refused = Execute(Payment(theirs, {"balance"}));
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  const std::string owner = ShardName(ShardOfSlot(SlotOfKey(theirs), 4));
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "shard '" + owner + "'"))
      << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "shard 's1'")) << refused.status();
  EXPECT_EQ(coordinator_->GetTransactionByKey(theirs).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(balance->total_calls(), 0);

  auto taken = Execute(Payment(ours, {"balance"}));
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_TRUE(absl::StartsWith(taken->txn_id, "s1-")) << taken->txn_id;
}

// A draining shard admits no new key, answers repeats of the keys it knows, finishes what it
// holds, and reports empty only once nothing it began is left undecided or undelivered.
TEST_F(CoordinatorTest, ADrainingShardFinishesWhatItHoldsAndAdmitsNothingNew) {
  auto balance = Participant("balance");
  balance->FailCommits(-1, absl::UnavailableError("down"));
  Start();
  auto held = Execute(Payment("k-held", {"balance"}));
  ASSERT_TRUE(held.ok() && held->committed);
  Coordinator::DrainReport before = coordinator_->Drain(false);
  EXPECT_FALSE(before.draining);
  EXPECT_EQ(before.unfinished, 1);

  Coordinator::DrainReport report = coordinator_->Drain(true);
  EXPECT_TRUE(report.draining);
  EXPECT_EQ(report.unfinished, 1) << "its commit is not delivered yet";
  auto refused = Execute(Payment("k-new", {"balance"}));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "shard 's0'")) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "draining")) << refused.status();
  auto repeat = Execute(Payment("k-held", {"balance"}));
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_EQ(repeat->txn_id, held->txn_id);

  balance->FailCommits(0, absl::OkStatus());
  ASSERT_TRUE(Settle());
  report = coordinator_->Drain(false);
  EXPECT_TRUE(report.draining);
  EXPECT_EQ(report.unfinished, 0);
  EXPECT_TRUE(Finished(held->txn_id));
  EXPECT_EQ(balance->total_calls(), 1 + balance->commits(held->txn_id))
      << "k-new never reached a participant";
}

// The previous owners as a test sees them: each question waits until the test answers it.
class FakePreviousOwners final : public PreviousOwners {
 public:
  struct Question {
    int shard;
    ExecuteParams params;
    ExecuteDone done;
  };
  void ExecuteIfKnown(int index, const ExecuteParams& params, ExecuteDone done) override {
    asked.push_back({index, params, std::move(done)});
  }
  std::vector<Question> asked;
};

// The key of the `n`th payment that shard `now` owns among `count` shards and shard `before`
// owned among `previous`.
std::string KeyMoving(int before, int previous, int now, int count, int n = 0) {
  for (int i = 0;; ++i) {
    const std::string key = absl::StrCat("pay-", i);
    const uint32_t slot = SlotOfKey(key);
    if (ShardOfSlot(slot, previous) == before && ShardOfSlot(slot, count) == now && n-- == 0) {
      return key;
    }
  }
}

// Growing from three shards to four: a key that moved to the new shard s3 is asked of its
// previous owner first and runs here only if that one does not know it; a key that stayed is
// never asked about.
TEST_F(CoordinatorTest, AKeyThatMovedRunsHereOnlyIfItsPreviousOwnerDoesNotKnowIt) {
  auto balance = Participant("balance");
  FakePreviousOwners previous;
  previous_owners_ = &previous;
  options_.shard = "s3";
  options_.shard_count = 4;
  options_.previous_shard_count = 3;
  Start();

  // Known at s1: its outcome there is the answer; nothing runs here.
  const std::string ran = KeyMoving(1, 3, 3, 4);
  Slot answer = Begin(Payment(ran, {"balance"}));
  Drain();
  ASSERT_EQ(previous.asked.size(), 1u);
  EXPECT_EQ(previous.asked[0].shard, 1);
  EXPECT_TRUE(previous.asked[0].params.only_if_known);
  EXPECT_EQ(previous.asked[0].params.branches.size(), 1u);
  EXPECT_FALSE(answer->has_value());
  previous.asked[0].done(ExecuteResult{"s1-1", true, -1, "", "", true});
  ASSERT_TRUE(answer->has_value() && answer->value().ok());
  EXPECT_EQ(answer->value()->txn_id, "s1-1");
  EXPECT_EQ(balance->total_calls(), 0);
  EXPECT_EQ(coordinator_->ActiveCount(), 0u);
  auto lookup = coordinator_->GetTransactionByKey(ran);
  EXPECT_EQ(lookup.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(lookup.status().message(), "shard 's1'")) << lookup.status();

  // Unknown at s0, which no longer owns it: it runs here, once; a repeat is answered here.
  const std::string fresh = KeyMoving(0, 3, 3, 4);
  answer = Begin(Payment(fresh, {"balance"}));
  Drain();
  ASSERT_EQ(previous.asked.size(), 2u);
  EXPECT_EQ(previous.asked[1].shard, 0);
  previous.asked[1].done(absl::NotFoundError("unknown at s0"));
  ASSERT_TRUE(Eventually([&] { return answer->has_value(); }));
  ASSERT_TRUE(answer->value().ok()) << answer->value().status();
  EXPECT_TRUE(answer->value()->committed);
  EXPECT_TRUE(absl::StartsWith(answer->value()->txn_id, "s3-")) << answer->value()->txn_id;
  auto repeat = Execute(Payment(fresh, {"balance"}));
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_TRUE(repeat->replayed);
  EXPECT_EQ(repeat->txn_id, answer->value()->txn_id);
  EXPECT_EQ(previous.asked.size(), 2u) << "a key known here is not asked about again";

  // Its previous owner cannot say (down, or still on three shards): refused, nothing runs.
  const std::string unsure = KeyMoving(2, 3, 3, 4);
  answer = Begin(Payment(unsure, {"balance"}));
  Drain();
  ASSERT_EQ(previous.asked.size(), 3u);
  previous.asked[2].done(absl::UnavailableError("still owns it"));
  ASSERT_TRUE(answer->has_value());
  EXPECT_EQ(answer->value().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(answer->value().status().message(), "shard 's2'"))
      << answer->value().status();
  previous.asked[2].done = nullptr;
  EXPECT_EQ(coordinator_->GetTransactionByKey(unsure).status().code(), absl::StatusCode::kNotFound);
}

// The previous owner's side: restarted with the new count, it answers every key it ran, also
// those it no longer owns, and admits none of those; asked only-if-known, it says NOT_FOUND for
// a key it does not own and UNAVAILABLE for one it still owns.
TEST_F(CoordinatorTest, AfterTheChangeAShardAnswersTheKeysItRanAndAdmitsNoneItLost) {
  auto balance = Participant("balance");
  options_.shard = "s1";
  options_.shard_count = 3;
  Start();
  const std::string moved = KeyMoving(1, 3, 3, 4);
  auto ran = Execute(Payment(moved, {"balance"}));
  ASSERT_TRUE(ran.ok() && ran->committed) << ran.status();
  ExecuteParams ask = Payment(KeyMoving(1, 3, 3, 4, 1), {"balance"});
  ask.only_if_known = true;
  auto still_owned = Execute(ask);
  EXPECT_EQ(still_owned.status().code(), absl::StatusCode::kUnavailable) << still_owned.status();
  EXPECT_TRUE(absl::StrContains(still_owned.status().message(), "--shards=3"))
      << still_owned.status();
  ASSERT_TRUE(Settle());
  const int calls = balance->total_calls();

  Crash();
  options_.shard_count = 4;
  options_.previous_shard_count = 3;
  Start();
  for (bool only_if_known : {false, true}) {
    ExecuteParams again = Payment(moved, {"balance"});
    again.only_if_known = only_if_known;
    auto repeat = Execute(again);
    ASSERT_TRUE(repeat.ok()) << repeat.status();
    EXPECT_TRUE(repeat->replayed);
    EXPECT_EQ(repeat->txn_id, ran->txn_id);
  }
  EXPECT_TRUE(coordinator_->GetTransactionByKey(moved).ok());
  auto lost = Execute(Payment(KeyMoving(1, 3, 3, 4, 1), {"balance"}));
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kFailedPrecondition) << lost.status();
  EXPECT_TRUE(absl::StrContains(lost.status().message(), "shard 's3'")) << lost.status();
  auto unknown = Execute(ask);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound) << unknown.status();
  ExecuteParams kept = Payment(KeyMoving(1, 3, 1, 4), {"balance"});
  kept.only_if_known = true;
  EXPECT_EQ(Execute(kept).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(balance->total_calls(), calls) << "only-if-known and lost keys reached no one";
  // A key it kept is never asked of another shard (this one has no way to ask any).
  auto stayed = Execute(Payment(KeyMoving(1, 3, 1, 4, 1), {"balance"}));
  ASSERT_TRUE(stayed.ok()) << stayed.status();
  EXPECT_TRUE(absl::StartsWith(stayed->txn_id, "s1-")) << stayed->txn_id;
}

// A log belongs to the shard that first reserved ids in it: another shard's coordinator
// refuses to start on it before resuming anything, and the owner still can.
TEST_F(CoordinatorTest, AnotherShardRefusesToRecoverTheLog) {
  auto balance = Participant("balance");
  Start();
  Crash();
  EXPECT_EQ(*log_.ClaimedShard(), "s0");
  // A decided transaction waits in the log for its Commit.
  storage::TxnRecord committing;
  committing.set_mode(storage::MODE_RECORD_TWO_PHASE);
  committing.set_begin_micros(absl::ToUnixMicros(clock_.Now()));
  committing.set_txn_id("s0-00000000000000a1");
  committing.set_idempotency_key("k-commit");
  committing.set_state(storage::TXN_COMMITTING);
  auto* b = committing.add_branches();
  b->set_participant("balance");
  b->set_state(storage::BRANCH_PREPARED);
  storage::LogBatch batch;
  batch.Begin(committing);
  ASSERT_TRUE(log_.WriteAndWait(std::move(batch), true).ok());

  options_.shard = "s1";
  registry_ = std::make_unique<Registry>(log_, factory_, breaker_);
  Coordinator other(options_, log_, *registry_, scheduler_, clock_, metrics_);
  const absl::Status refused = other.Recover();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "shard 's0'")) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "shard 's1'")) << refused;
  Drain();
  EXPECT_EQ(other.ActiveCount(), 0u);
  EXPECT_EQ(balance->total_calls(), 0) << "nothing of shard s0's log was resumed";
  EXPECT_EQ(*log_.ClaimedShard(), "s0");
  other.Stop();

  options_.shard = "s0";
  Start();
  ASSERT_TRUE(Eventually([&] { return Finished(committing.txn_id()); }));
  EXPECT_EQ(balance->commits(committing.txn_id()), 1);
}

// A log written before shards claimed their logs: its transaction ids say whose it is.
TEST(IdAllocatorTest, ALogWithoutAClaimBelongsToTheShardOfItsIds) {
  testing::MemoryLog log;
  testing::ManualClock clock;
  storage::TxnRecord rec;
  rec.set_txn_id("s1-00000000000000a1");
  rec.set_idempotency_key("k");
  storage::LogBatch batch;
  batch.Begin(rec);
  ASSERT_TRUE(log.WriteAndWait(std::move(batch), true).ok());
  EXPECT_EQ(IdAllocator("s0", log, clock).CheckOwner().code(),
            absl::StatusCode::kFailedPrecondition);
  IdAllocator owner("s1", log, clock);
  ASSERT_TRUE(owner.CheckOwner().ok());
  ASSERT_TRUE(owner.Load().ok());
  EXPECT_EQ(*log.ClaimedShard(), "s1");
}

}  // namespace
}  // namespace settle::engine
