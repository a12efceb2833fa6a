#include "storage/txn_log.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "launch/wait.h"

namespace settle::storage {
namespace {

TxnRecord Record(const std::string& id, TxnStateRecord state) {
  TxnRecord rec;
  rec.set_txn_id(id);
  rec.set_idempotency_key("key-" + id);
  rec.set_mode(storage::MODE_RECORD_TWO_PHASE);
  rec.set_state(state);
  rec.set_begin_micros(1000);
  auto* b = rec.add_branches();
  b->set_participant("balance");
  b->set_payload("payload");
  return rec;
}

std::unique_ptr<TxnLog> OpenOrDie(const std::string& dir) {
  auto log = TxnLog::Open(dir);
  EXPECT_TRUE(log.ok()) << log.status();
  return std::move(*log);
}

// With its begin record, and without: the coordinator sends Prepares without waiting for the
// begin record, which a crash or a failed write may lose, so the decision alone must be enough
// for recovery and for the idempotency key, also after the transaction finishes.
// Transactions s0-0 .. s0-<n-1> begun in `state`, one write each.
void WriteBegins(TxnLog& log, int n, TxnStateRecord state, bool sync) {
  for (int i = 0; i < n; ++i) {
    LogBatch b;
    b.Begin(Record(absl::StrCat("s0-", i), state));
    ASSERT_TRUE(log.WriteAndWait(std::move(b), sync).ok());
  }
}

TEST(TxnLogTest, ForcedCommitSurvivesReopenWithOrWithoutItsBegin) {
  for (const bool with_begin : {true, false}) {
    SCOPED_TRACE(with_begin ? "with begin" : "decision only");
    launch::TempDir dir;
    {
      auto log = OpenOrDie(dir.path());
      if (with_begin) {
        LogBatch begin;
        begin.Begin(Record("s0-1", TXN_PREPARING));
        ASSERT_TRUE(log->WriteAndWait(std::move(begin), false).ok());
      }
      LogBatch decide;
      decide.Decide(Record("s0-1", TXN_COMMITTING));
      ASSERT_TRUE(log->WriteAndWait(std::move(decide), true).ok());
    }
    auto log = OpenOrDie(dir.path());
    auto active = log->LoadActive();
    ASSERT_TRUE(active.ok());
    ASSERT_EQ(active->size(), 1u);
    EXPECT_EQ((*active)[0].state(), TXN_COMMITTING);
    LogBatch finish;
    finish.Finish(Record("s0-1", TXN_COMMITTED));
    ASSERT_TRUE(log->WriteAndWait(std::move(finish), false).ok());
    auto id = log->FindTxnIdByKey("key-s0-1");
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(id->value_or(""), "s0-1");
    auto rec = log->FindFinished("s0-1");
    ASSERT_TRUE(rec.ok());
    ASSERT_TRUE(rec->has_value());
    EXPECT_EQ((*rec)->state(), TXN_COMMITTED);
  }
}

TEST(TxnLogTest, RestartReloadsOnlyActiveTransactions) {
  launch::TempDir dir;
  {
    auto log = OpenOrDie(dir.path());
    WriteBegins(*log, 5, TXN_PREPARING, /*sync=*/false);
    for (int i = 0; i < 3; ++i) {
      LogBatch b;
      b.Finish(Record(absl::StrCat("s0-", i), TXN_COMMITTED));
      ASSERT_TRUE(log->WriteAndWait(std::move(b), false).ok());
    }
  }
  auto log = OpenOrDie(dir.path());
  auto active = log->LoadActive();
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 2u);
  EXPECT_EQ((*active)[0].txn_id(), "s0-3");
  auto finished = log->FindFinished("s0-1");
  ASSERT_TRUE(finished.ok());
  ASSERT_TRUE(finished->has_value());
  EXPECT_EQ((*finished)->state(), TXN_COMMITTED);
  auto max = log->MaxTxnId();
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(*max, "s0-4");
}

TEST(TxnLogTest, ConcurrentForcedWritesShareSyncs) {
  launch::TempDir dir;
  auto log = OpenOrDie(dir.path());
  std::atomic<int> groups{0};
  log->SetStatsObserver([&groups](const GroupWriteStats& s) {
    if (s.synced) groups.fetch_add(1);
  });
  constexpr int kThreads = 16, kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < kPerThread; ++i) {
        LogBatch b;
        b.UpdateActive(Record(absl::StrCat("s0-", t, "-", i), TXN_COMMITTING));
        EXPECT_TRUE(log->WriteAndWait(std::move(b), true).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  // 16 writers each waiting on its own sync: one sync per write would make 800 groups.
  EXPECT_LT(groups.load(), kThreads * kPerThread);
  auto active = log->LoadActive();
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(TxnLogTest, CorruptLogRefusesToStart) {
  launch::TempDir dir;
  {
    auto log = OpenOrDie(dir.path());
    LogBatch b;
    b.Begin(Record("s0-1", TXN_PREPARING));
    ASSERT_TRUE(log->WriteAndWait(std::move(b), true).ok());
  }
  // Damage every write-ahead log and manifest file in place.
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    const std::string name = entry.path().filename().string();
    if (name.find(".log") != std::string::npos || name.rfind("MANIFEST", 0) == 0) {
      std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(0);
      const std::string junk(64, '\x5a');
      f.write(junk.data(), junk.size());
    }
  }
  auto log = TxnLog::Open(dir.path());
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss) << log.status();
}

// The write-ahead log files of the database in `dir`.
std::vector<std::filesystem::path> WalFiles(const std::string& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".log") out.push_back(entry.path());
  }
  return out;
}

// What a power cut leaves: the synced records whole, the write after them cut short at a random
// byte. Start-up goes on with every synced record; the unfinished one was never acknowledged.
TEST(TxnLogTest, TornUnsyncedTailOpensWithEverySyncedRecord) {
  for (const uintmax_t kept : {uintmax_t{2000}, uintmax_t{3}, uintmax_t{0}}) {
    SCOPED_TRACE(absl::StrCat(kept, " bytes of the unsynced write kept"));
    launch::TempDir dir;
    uintmax_t synced_size = 0;
    {
      auto log = OpenOrDie(dir.path());
      WriteBegins(*log, 50, TXN_COMMITTING, /*sync=*/true);
      ASSERT_EQ(WalFiles(dir.path()).size(), 1u);
      synced_size = std::filesystem::file_size(WalFiles(dir.path())[0]);
      TxnRecord big = Record("s0-50", TXN_COMMITTING);
      big.mutable_branches(0)->set_payload(std::string(4000, 'x'));
      LogBatch b;
      b.Begin(std::move(big));
      ASSERT_TRUE(log->WriteAndWait(std::move(b), /*sync=*/false).ok());
    }
    const auto wal = WalFiles(dir.path())[0];
    ASSERT_GT(std::filesystem::file_size(wal), synced_size + 4000);
    std::filesystem::resize_file(wal, synced_size + kept);
    auto log = TxnLog::Open(dir.path());
    ASSERT_TRUE(log.ok()) << "a torn unsynced tail must not stop start-up: " << log.status();
    auto active = (*log)->LoadActive();
    ASSERT_TRUE(active.ok());
    EXPECT_EQ(active->size(), 50u) << "every synced record, and not the torn one";
  }
}

// Damage inside records that were synced (bit rot, bytes overwritten) stops start-up.
TEST(TxnLogTest, DamagedSyncedRecordsRefuseToStart) {
  launch::TempDir dir;
  {
    auto log = OpenOrDie(dir.path());
    WriteBegins(*log, 50, TXN_COMMITTING, /*sync=*/true);
  }
  const auto wals = WalFiles(dir.path());
  ASSERT_EQ(wals.size(), 1u);
  const auto size = std::filesystem::file_size(wals[0]);
  ASSERT_GT(size, 1000u);
  {
    std::fstream f(wals[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.write("garbage!garbage!", 16);
  }
  auto log = TxnLog::Open(dir.path());
  ASSERT_FALSE(log.ok()) << "a damaged log must not open as if nothing was lost";
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss) << log.status();
}

TEST(TxnLogTest, FolderWithoutDatabaseIsNotAFreshStart) {
  launch::TempDir dir;
  {
    auto log = OpenOrDie(dir.path());
  }
  std::filesystem::remove(dir.Sub("CURRENT"));
  auto log = TxnLog::Open(dir.path());
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
}

TEST(TxnLogTest, ScanMergesActiveAndFinishedInIdOrder) {
  launch::TempDir dir;
  auto log = OpenOrDie(dir.path());
  for (const char* id : {"s0-1", "s0-2", "s0-3", "s0-4"}) {
    LogBatch b;
    b.Begin(Record(id, TXN_PREPARING));
    ASSERT_TRUE(log->WriteAndWait(std::move(b), false).ok());
  }
  for (const char* id : {"s0-2", "s0-4"}) {
    LogBatch b;
    b.Finish(Record(id, TXN_ABORTED));
    ASSERT_TRUE(log->WriteAndWait(std::move(b), false).ok());
  }
  std::vector<std::string> seen;
  auto last = log->Scan("s0-2", TxnLog::ScanSet::kAll, 2, [&](const TxnRecord& r) {
    seen.push_back(r.txn_id());
    return true;
  });
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"s0-2", "s0-3"}));
  EXPECT_EQ(*last, "s0-3");
}

// The audit trail shares its space with the shard's claim and the id ceiling, whose keys sort
// after it: paging stops at the trail's ends, in both orders, across a reopen.
TEST(TxnLogTest, AuditPagesChainInTimeOrderEitherWay) {
  launch::TempDir dir;
  {
    auto log = OpenOrDie(dir.path());
    LogBatch b;
    b.ClaimShard("s0");
    b.ReserveIds(1000);
    for (int i = 0; i < 5; ++i) {
      AuditRecord rec;
      rec.set_target(absl::StrCat("p", i));
      b.PutAudit(LogBatch::AuditKey(1000 + i, i), rec);
    }
    ASSERT_TRUE(log->WriteAndWait(std::move(b), true).ok());
  }
  auto log = OpenOrDie(dir.path());
  auto walk = [&](bool newest_first) {
    std::string after;
    std::vector<std::string> seen;
    for (int pages = 0; pages < 10; ++pages) {
      auto page = log->ListAudit(after, 2, newest_first);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok() || page->empty()) break;
      for (const auto& [key, rec] : *page) seen.push_back(rec.target());
      after = page->back().first;
    }
    return seen;
  };
  EXPECT_EQ(walk(false), (std::vector<std::string>{"p0", "p1", "p2", "p3", "p4"}));
  EXPECT_EQ(walk(true), (std::vector<std::string>{"p4", "p3", "p2", "p1", "p0"}));
}

TEST(TxnLogTest, ScanOfTheActiveSetSkipsEveryFinishedTransaction) {
  launch::TempDir dir;
  auto log = OpenOrDie(dir.path());
  // Ten thousand finished transactions before and around the one active one.
  LogBatch b;
  for (int i = 0; i < 10000; ++i) {
    TxnRecord rec = Record(absl::StrFormat("s0-%05d", i), TXN_COMMITTED);
    b.Begin(rec);
    if (i != 9000) b.Finish(rec);
  }
  ASSERT_TRUE(log->WriteAndWait(std::move(b), false).ok());
  std::vector<std::string> seen;
  auto last = log->Scan("", TxnLog::ScanSet::kActive, 0, [&](const TxnRecord& r) {
    seen.push_back(r.txn_id());
    return true;
  });
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"s0-09000"}));
  EXPECT_EQ(*last, "");
}

TEST(TxnLogTest, RetentionRemovesOldFinishedTransactionsAndTheirKeys) {
  launch::TempDir dir;
  auto log = OpenOrDie(dir.path());
  TxnRecord old = Record("s0-1", TXN_COMMITTED);
  old.set_finish_micros(2000);
  TxnRecord recent = Record("s0-2", TXN_COMMITTED);
  recent.set_begin_micros(5000);
  recent.set_finish_micros(9000);
  for (const auto& rec : {old, recent}) {
    LogBatch b;
    b.Begin(rec);
    b.Finish(rec);
    ASSERT_TRUE(log->WriteAndWait(std::move(b), false).ok());
  }
  std::string cursor;
  auto removed = log->DeleteFinishedBefore(absl::FromUnixMicros(3000), 100, &cursor);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 1);
  EXPECT_EQ(cursor, "s0-2");  // The first one kept.
  EXPECT_FALSE(log->FindFinished("s0-1")->has_value());
  EXPECT_FALSE(log->FindTxnIdByKey("key-s0-1")->has_value());
  EXPECT_TRUE(log->FindFinished("s0-2")->has_value());
}

// Batches resume where the last stopped, and one that began before the cutoff but finished
// after it stays until it is due, however far later batches have gone.
TEST(TxnLogTest, RetentionBatchesResumeAndKeepLateFinishers) {
  launch::TempDir dir;
  auto log = OpenOrDie(dir.path());
  for (int i = 1; i <= 9; ++i) {
    TxnRecord rec = Record(absl::StrCat("s0-", i), TXN_COMMITTED);
    rec.set_begin_micros(i * 100);
    rec.set_finish_micros(i == 3 ? 5000 : i * 100 + 50);
    LogBatch b;
    b.Begin(rec);
    b.Finish(rec);
    ASSERT_TRUE(log->WriteAndWait(std::move(b), false).ok());
  }
  const absl::Time cutoff = absl::FromUnixMicros(1000);  // All due but s0-3.
  std::string cursor;
  std::vector<int> batches;
  for (int round = 0; round < 10; ++round) {
    auto removed = log->DeleteFinishedBefore(cutoff, 3, &cursor);
    ASSERT_TRUE(removed.ok()) << removed.status();
    if (*removed == 0) break;
    batches.push_back(*removed);
  }
  EXPECT_EQ(batches, (std::vector<int>{3, 3, 2}));
  EXPECT_EQ(cursor, "s0-3");
  for (int i = 1; i <= 9; ++i) {
    EXPECT_EQ(log->FindFinished(absl::StrCat("s0-", i))->has_value(), i == 3) << i;
  }
  auto later = log->DeleteFinishedBefore(absl::FromUnixMicros(6000), 100, &cursor);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(*later, 1);
  EXPECT_FALSE(log->FindFinished("s0-3")->has_value());
}

}  // namespace
}  // namespace settle::storage
