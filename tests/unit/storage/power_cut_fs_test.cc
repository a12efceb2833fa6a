// The simulated power cut itself: what the journal records and what the roll-back leaves.

#include "storage/power_cut_fs.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "launch/wait.h"
#include "storage/txn_log.h"

namespace settle::storage {
namespace {

namespace fs = std::filesystem;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A journal written by hand against files written by hand: each rule of the roll-back.
TEST(PowerCutFsTest, RollBackKeepsSyncedBytesAndDurableEntriesOnly) {
  launch::TempDir dir;
  const std::string d = dir.Sub("db");
  fs::create_directories(d);
  WriteFile(d + "/old.sst", "before this life");      // Not in the journal: kept.
  WriteFile(d + "/wal.log", "synced|unsynced tail");  // Synced up to 7 bytes.
  WriteFile(d + "/new.sst", "created, never in a synced dir");
  WriteFile(d + "/CURRENT", "MANIFEST-2\n");  // Renamed over, dir not synced.
  WriteFile(d + "/saved", "MANIFEST-1\n");
  WriteFile(d + "/kept.log", "all synced");
  const std::string journal = dir.Sub("db.synced");
  const std::vector<std::string> lines = {
      "C\t" + d + "/wal.log",
      "D\t" + d,
      "S\t7\t" + d + "/wal.log",
      "C\t" + d + "/kept.log",
      "S\t10\t" + d + "/kept.log",
      "D\t" + d,
      "C\t" + d + "/new.sst",
      "S\t30\t" + d + "/new.sst",
      "R\t" + d + "/tmp\t" + d + "/CURRENT\t" + d + "/saved",
      "X\t" + d + "/gone",
      "S\t3\t" + d + "/torn",  // No newline after it: a line the kill cut short, ignored.
  };
  WriteFile(journal, absl::StrJoin(lines, "\n"));
  std::mt19937 rng(1);
  auto report = RollBackToSynced(journal, rng);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(ReadFile(d + "/old.sst"), "before this life");
  EXPECT_EQ(ReadFile(d + "/kept.log"), "all synced");
  const std::string wal = ReadFile(d + "/wal.log");
  EXPECT_EQ(wal.substr(0, 7), "synced|");
  EXPECT_LT(wal.size(), std::string("synced|unsynced tail").size());
  EXPECT_FALSE(fs::exists(d + "/new.sst"));
  EXPECT_EQ(ReadFile(d + "/CURRENT"), "MANIFEST-1\n");
  EXPECT_EQ(report->files_removed, 1);
  EXPECT_EQ(report->renames_undone, 1);
  EXPECT_EQ(report->tails_dropped + report->tails_torn, 1);
  EXPECT_EQ(ReadFile(journal), "") << "the next life starts a new journal";
}

// RocksDB through the journaling file system: synced records survive the roll-back, an
// unsynced write does not, and the log opens on what is left.
TEST(PowerCutFsTest, LogRolledBackKeepsEverySyncedRecord) {
  launch::TempDir dir;
  const std::string data = dir.Sub("log");
  const std::string journal = dir.Sub("log.synced");
  for (int life = 0; life < 4; ++life) {
    SCOPED_TRACE(absl::StrCat("life ", life));
    {
      TxnLog::Options options;
      options.power_cut_journal_ForTest = journal;
      auto log = TxnLog::Open(data, options);
      ASSERT_TRUE(log.ok()) << log.status();
      auto active = (*log)->LoadActive();
      ASSERT_TRUE(active.ok());
      // Every synced record, and not one of the unsynced ones (active too, if they survived).
      ASSERT_EQ(active->size(), static_cast<size_t>(10 * life));
      if (life == 3) break;
      for (int i = 0; i < 10; ++i) {
        TxnRecord rec;
        rec.set_txn_id(absl::StrCat("s0-", life * 10 + i));
        rec.set_idempotency_key(rec.txn_id());
        rec.set_state(TXN_COMMITTING);
        rec.add_branches()->set_participant("balance");
        LogBatch b;
        b.Begin(rec);
        ASSERT_TRUE((*log)->WriteAndWait(std::move(b), /*sync=*/true).ok());
      }
      TxnRecord unsynced;
      unsynced.set_txn_id(absl::StrCat("s0-9", life));
      unsynced.set_idempotency_key("unsynced");
      unsynced.set_state(TXN_COMMITTING);
      unsynced.add_branches()->set_payload(std::string(3000, 'u'));
      LogBatch b;
      b.Begin(unsynced);
      ASSERT_TRUE((*log)->WriteAndWait(std::move(b), /*sync=*/false).ok());
    }
    std::mt19937 rng(life);
    auto report = RollBackToSynced(journal, rng);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_GT(report->bytes_lost, 0u) << "the unsynced write survived the cut";
  }
}

}  // namespace
}  // namespace settle::storage
