// Transaction records sealed at rest: no file of the data dir holds a payload in clear; keys
// rotate (old records open while their key is given, and a missing key is named); a record
// whose tag does not verify is DATA_LOSS; records written in clear stay readable.

#include "storage/record_cipher.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "launch/wait.h"
#include "storage/txn_log.h"

namespace settle::storage {
namespace {

constexpr char kMarker[] = "PAN-4111111111111111-MARKER";

class RecordCipherTest : public ::testing::Test {
 protected:
  // A key file named `<id>.key` holding 32 bytes of `fill`, in hex.
  std::string Key(const std::string& id, char fill) {
    const std::string path = dir_.Sub(id + ".key");
    std::ofstream(path) << std::string(64, fill) << "\n";
    return path;
  }

  std::unique_ptr<TxnLog> Open(const std::vector<std::string>& keys,
                               absl::StatusCode expected = absl::StatusCode::kOk) {
    TxnLog::Options options;
    if (!keys.empty()) {
      auto cipher = RecordCipher::FromKeyFiles(keys);
      EXPECT_TRUE(cipher.ok()) << cipher.status();
      options.cipher = std::make_shared<const RecordCipher>(*std::move(cipher));
    }
    auto log = TxnLog::Open(dir_.Sub("log"), options);
    EXPECT_EQ(log.status().code(), expected) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  }

  static TxnRecord Record(const std::string& id) {
    TxnRecord rec;
    rec.set_txn_id(id);
    rec.set_idempotency_key("key-" + id);
    rec.set_state(TXN_PREPARING);
    rec.add_branches()->set_payload(absl::StrCat("card ", kMarker, " for ", id));
    return rec;
  }

  static void Begin(TxnLog& log, const std::string& id) {
    LogBatch b;
    b.Begin(Record(id));
    ASSERT_TRUE(log.WriteAndWait(std::move(b), /*sync=*/true).ok());
  }

  launch::TempDir dir_;
};

TEST_F(RecordCipherTest, KeyFilesAreCheckedByName) {
  std::ofstream(dir_.Sub("short.key")) << "abcd\n";
  std::ofstream(dir_.Sub("bad id!.key")) << std::string(64, 'a');
  for (const auto& [files, needle] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{}, "no key file"},
           {{dir_.Sub("short.key")}, "want 64 hex digits"},
           {{dir_.Sub("bad id!.key")}, "key id"},
           {{dir_.Sub("missing.key")}, "missing.key"},
           {{Key("k1", 'a'), dir_.Sub("k1.key")}, "given twice"}}) {
    auto c = RecordCipher::FromKeyFiles(files);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << needle;
    EXPECT_NE(c.status().message().find(needle), absl::string_view::npos) << c.status();
  }
}

TEST_F(RecordCipherTest, NoFileHoldsAPayloadInClearAndTheLogReadsBack) {
  {
    auto log = Open({Key("k1", 'a')});
    for (int i = 0; i < 50; ++i) Begin(*log, absl::StrCat("t", i));
    LogBatch finish;
    finish.Finish(Record("t0"));
    ASSERT_TRUE(log->WriteAndWait(std::move(finish), true).ok());
    ASSERT_TRUE(log->Compact().ok());  // SST files too, not just the WAL.
    Begin(*log, "t-in-wal");
  }
  EXPECT_EQ(launch::FilesHolding(dir_.Sub("log"), kMarker), 0);
  auto log = Open({dir_.Sub("k1.key")});
  auto active = log->LoadActive();
  ASSERT_TRUE(active.ok()) << active.status();
  EXPECT_EQ(active->size(), 50u);
  auto finished = log->FindFinished("t0");
  ASSERT_TRUE(finished.ok() && finished->has_value());
  EXPECT_EQ((*finished)->branches(0).payload(), absl::StrCat("card ", kMarker, " for t0"));
  EXPECT_FALSE((*finished)->has_sealed());
}

TEST_F(RecordCipherTest, TheSameRecordsInClearHoldTheMarker) {
  // The check above bites: without a key the payloads are there to find.
  {
    auto log = Open({});
    Begin(*log, "t1");
  }
  EXPECT_GT(launch::FilesHolding(dir_.Sub("log"), kMarker), 0);
  // ...and they stay readable once encryption is turned on, beside sealed ones.
  auto log = Open({Key("k1", 'a')});
  Begin(*log, "t2");
  auto active = log->LoadActive();
  ASSERT_TRUE(active.ok()) << active.status();
  EXPECT_EQ(active->size(), 2u);
}

TEST_F(RecordCipherTest, KeysRotateAndAMissingKeyIsNamed) {
  {
    auto log = Open({Key("k1", 'a')});
    Begin(*log, "old");
  }
  {
    auto log = Open({Key("k2", 'b'), dir_.Sub("k1.key")});
    Begin(*log, "new");
    auto active = log->LoadActive();
    ASSERT_TRUE(active.ok()) << active.status();
    EXPECT_EQ(active->size(), 2u);
  }
  auto log = Open({dir_.Sub("k2.key")});
  auto fresh = log->Find("new");
  ASSERT_TRUE(fresh.ok() && fresh->has_value()) << fresh.status();
  auto old = log->Find("old");
  EXPECT_EQ(old.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(old.status().message().find("'k1'"), absl::string_view::npos) << old.status();
  EXPECT_EQ(log->LoadActive().status().code(), absl::StatusCode::kFailedPrecondition);
  log.reset();
  log = Open({});
  EXPECT_EQ(log->LoadActive().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(RecordCipherTest, ARecordWhoseTagDoesNotVerifyIsDataLoss) {
  {
    auto log = Open({Key("k1", 'a')});
    Begin(*log, "t1");
  }
  // Another key under the same id: every tag fails, as for a damaged record.
  auto log = Open({Key("k1", 'c')});
  auto active = log->LoadActive();
  EXPECT_EQ(active.status().code(), absl::StatusCode::kDataLoss) << active.status();
  EXPECT_NE(active.status().message().find("tag does not verify"), absl::string_view::npos);
}

}  // namespace
}  // namespace settle::storage
