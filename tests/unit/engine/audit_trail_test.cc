// The audit trail on the in-memory log: a command is reported recorded only once its synced
// write completed, a failed write stops the command, outcomes replace the entry, pages chain.

#include "server/engine/audit_trail.h"

#include "gtest/gtest.h"
#include "tests/testing/manual_time.h"
#include "tests/testing/memory_log.h"

namespace settle::engine {
namespace {

TEST(AuditTrailTest, RecordedOnlyOnceSyncedAndNeverRunWhenTheWriteFails) {
  testing::MemoryLog log;
  testing::ManualClock clock;
  AuditTrail audit(log, clock);
  std::optional<absl::StatusOr<AuditTrail::Entry>> recorded;
  audit.Record({"ops", "alice", "abort", "txn-1", "customer called"},
               [&](absl::StatusOr<AuditTrail::Entry> e) { recorded = std::move(e); });
  ASSERT_FALSE(recorded.has_value());
  ASSERT_TRUE(log.PeekQueued()->sync);
  ASSERT_TRUE(log.CompleteOne());
  ASSERT_TRUE(recorded.has_value() && recorded->ok());
  audit.Finish(**recorded, absl::NotFoundError("transaction 'txn-1' is not known here"));
  ASSERT_TRUE(log.CompleteOne());

  log.FailNextWrites(1);
  recorded.reset();
  audit.Record({"ops", "", "deregister", "balance", ""},
               [&](absl::StatusOr<AuditTrail::Entry> e) { recorded = std::move(e); });
  ASSERT_TRUE(log.CompleteOne());
  EXPECT_EQ(recorded->status().code(), absl::StatusCode::kUnavailable);

  std::string next;
  auto page = audit.List("", 10, false, &next);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 1u);
  const storage::AuditRecord& r = page->front();
  EXPECT_EQ(r.who(), "ops");
  EXPECT_EQ(r.on_behalf_of(), "alice");
  EXPECT_EQ(r.action(), "abort");
  EXPECT_EQ(r.reason(), "customer called");
  EXPECT_EQ(r.micros(), absl::ToUnixMicros(clock.Now()));
  EXPECT_TRUE(r.done());
  EXPECT_EQ(r.code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_EQ(next, "");
}

// Run is the sequence the gRPC adapters rely on: the command runs only after its synced record,
// never when the record fails, and its outcome reaches both the record and the caller.
TEST(AuditTrailTest, RunRunsTheCommandOnlyAfterItsRecordIsDurable) {
  testing::MemoryLog log;
  testing::ManualClock clock;
  AuditTrail audit(log, clock);
  bool ran = false;
  std::optional<absl::Status> outcome;
  AuditTrail::Outcome finish;
  audit.Run({"ops", "", "abort", "txn-1", std::string(5000, 'r')},
            [&](AuditTrail::Outcome f) {
              ran = true;
              finish = std::move(f);
            },
            [&](absl::Status s) { outcome = std::move(s); });
  EXPECT_FALSE(ran);
  ASSERT_TRUE(log.PeekQueued()->sync);
  ASSERT_TRUE(log.CompleteOne());
  ASSERT_TRUE(ran);
  EXPECT_FALSE(outcome.has_value());
  finish(absl::FailedPreconditionError("transaction 'txn-1' already committed"));
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(log.CompleteOne());

  log.FailNextWrites(1);
  ran = false;
  outcome.reset();
  audit.Run({"ops", "", "deregister", "balance", ""}, [&](AuditTrail::Outcome) { ran = true; },
            [&](absl::Status s) { outcome = std::move(s); });
  ASSERT_TRUE(log.CompleteOne());
  EXPECT_FALSE(ran);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->code(), absl::StatusCode::kUnavailable);

  std::string next;
  auto page = audit.List("", 10, false, &next);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 1u);
  EXPECT_TRUE(page->front().done());
  EXPECT_EQ(page->front().code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_LE(page->front().reason().size(), 256u);  // Kept as an echo, not 5000 bytes.
}

TEST(AuditTrailTest, PagesChainInTimeOrderEitherWay) {
  testing::MemoryLog log;
  testing::ManualClock clock;
  AuditTrail audit(log, clock);
  for (int i = 0; i < 5; ++i) {
    audit.Record({"ops", "", "register", "p" + std::to_string(i), ""}, [](auto) {});
    ASSERT_TRUE(log.CompleteOne());
    clock.Advance(absl::Seconds(1));
  }
  // Every page, two at a time, in either order.
  auto walk = [&](bool newest_first) {
    std::string token;
    std::vector<std::string> seen;
    do {
      auto page = audit.List(token, 2, newest_first, &token);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      for (const auto& r : *page) seen.push_back(r.target());
    } while (!token.empty());
    return seen;
  };
  EXPECT_EQ(walk(false), (std::vector<std::string>{"p0", "p1", "p2", "p3", "p4"}));
  EXPECT_EQ(walk(true), (std::vector<std::string>{"p4", "p3", "p2", "p1", "p0"}));
  std::string next;
  EXPECT_EQ(audit.List("txn-7", 2, false, &next).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(audit.List("", 0, false, &next).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace settle::engine
