#include "storage/rocks_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/table_properties_collectors.h"
#include "rocksdb/write_buffer_manager.h"
#if SETTLE_TEST_HOOKS
#include "storage/power_cut_fs.h"
#include "storage/write_fault_env.h"
#endif

namespace settle::storage {
namespace {

constexpr size_t kBlockCacheBytes = 32 << 20;
constexpr size_t kMemtableBudgetBytes = 64 << 20;
constexpr size_t kMemtableBytes = 16 << 20;

// Memory stays bounded however much the store holds: memtables share one budget per process,
// and index and filter blocks live in the block cache instead of growing with the data. Bloom
// filters keep a point read of an absent key (the idempotency check of every new payment) off
// the disk.
rocksdb::ColumnFamilyOptions CfOptions(bool queue) {
  static const auto* cache = new std::shared_ptr<rocksdb::Cache>(
      rocksdb::NewLRUCache(kBlockCacheBytes));
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = *cache;
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf;
  cf.write_buffer_size = kMemtableBytes;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  if (queue) {
    // A scan from the start walks every tombstone not yet compacted away: a file dense with
    // them (64 in any 128 entries, or half of the file) is marked for compaction at once.
    cf.table_properties_collector_factories.push_back(
        rocksdb::NewCompactOnDeletionCollectorFactory(128, 64, 0.5));
  }
  return cf;
}

// The test-only file systems `options` asks for, the failing one over the journaling one, or
// null: the default.
absl::StatusOr<std::unique_ptr<rocksdb::Env>> TestEnv(const StoreOptions& options) {
  if (options.write_fault_trigger_ForTest.empty() && options.power_cut_journal_ForTest.empty()) {
    return nullptr;
  }
#if SETTLE_TEST_HOOKS
  std::shared_ptr<rocksdb::FileSystem> fs = rocksdb::FileSystem::Default();
  if (!options.power_cut_journal_ForTest.empty()) {
    fs = NewPowerCutFileSystemForTest(fs, options.power_cut_journal_ForTest);
  }
  if (!options.write_fault_trigger_ForTest.empty()) {
    fs = NewWriteFaultFileSystemForTest(fs, options.write_fault_trigger_ForTest);
  }
  return rocksdb::NewCompositeEnv(fs);
#else
  return absl::FailedPreconditionError(
      "this build has no test hooks (-DSETTLE_TEST_HOOKS=OFF): --test_write_fault_trigger and "
      "--test_power_cut_journal are not available");
#endif
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool ok = fd >= 0 && fsync(fd) == 0;
  const int err = errno;
  if (fd >= 0) close(fd);
  if (ok) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("cannot sync folder ", dir, ": ", strerror(err)));
}

}  // namespace

absl::Status FromRocksDb(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsIOError() || s.IsNoSpace() || s.IsBusy() || s.IsTimedOut() || s.IsTryAgain() ||
      s.IsIncomplete() || s.IsShutdownInProgress()) {
    return absl::UnavailableError(msg);
  }
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsNotSupported()) return absl::UnimplementedError(msg);
  return absl::InternalError(msg);
}

OpenedDb::~OpenedDb() {
  // Handles must go before the DB that owns them.
  cfs.clear();
  default_cf.reset();
  db.reset();
}

absl::StatusOr<std::unique_ptr<OpenedDb>> OpenRocksDb(const std::string& dir,
                                                      const std::vector<ColumnFamilySpec>& cfs,
                                                      const std::string& schema_key,
                                                      const std::string& schema_version,
                                                      rocksdb::Env* env) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool exists = fs::exists(dir, ec);
  const bool has_db = fs::exists(fs::path(dir) / "CURRENT", ec);
  if (exists && !has_db && !fs::is_empty(dir, ec)) {
    return absl::DataLossError(absl::StrCat(
        "data dir ", dir, " is not empty but holds no database (CURRENT is missing); refusing to "
        "start on an empty log. Restore the folder or point --data_dir at an empty one"));
  }
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot create data dir ", dir, ": ", ec.message()));
  }
  if (!exists) {
    // RocksDB syncs the entries inside the folder, not the folder's own entry: without this a
    // power cut soon after the first start could take the whole new log with it.
    if (absl::Status s = SyncDirectory(fs::absolute(dir).parent_path().string()); !s.ok()) return s;
  }

  rocksdb::DBOptions options;
  options.create_if_missing = !has_db;
  options.create_missing_column_families = !has_db;
  options.paranoid_checks = true;
  // A record cut short at the end of a WAL is a write that never finished, so it was never
  // synced and nobody was told of it: a power cut leaves exactly that, and it must not turn
  // into an outage. A record whose checksum fails anywhere is damage: start-up stops.
  // kAbsoluteConsistency refused the first; kPointInTimeRecovery would drop synced records
  // after a hole. A cut at a record boundary looks like nothing lost to any mode (rocksdb
  // #12488); track_and_verify_wals_in_manifest only covers closed WALs and raises false
  // "Missing WAL" alarms before RocksDB 7.9 (#10892), so it stays off.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 4;
  static const auto* memtables = new std::shared_ptr<rocksdb::WriteBufferManager>(
      std::make_shared<rocksdb::WriteBufferManager>(kMemtableBudgetBytes));
  options.write_buffer_manager = *memtables;
  if (env != nullptr) options.env = env;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, CfOptions(false));
  for (const auto& cf : cfs) descriptors.emplace_back(cf.name, CfOptions(cf.queue));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, descriptors, &handles, &raw);
  if (!s.ok()) {
    absl::Status st = FromRocksDb(s, absl::StrCat("cannot open the log in ", dir));
    if (s.IsCorruption() || s.IsInvalidArgument()) {
      return absl::DataLossError(absl::StrCat(
          st.message(), ". The log is damaged; restore it from a backup. Settle will not start "
          "on a log it cannot read"));
    }
    return st;
  }
  auto opened = std::make_unique<OpenedDb>();
  opened->db.reset(raw);
  opened->default_cf.reset(handles[0]);
  for (size_t i = 1; i < handles.size(); ++i) opened->cfs.emplace_back(handles[i]);

  // The default column family holds the schema version.
  std::string version;
  s = raw->Get(rocksdb::ReadOptions(), schema_key, &version);
  if (s.IsNotFound()) {
    if (has_db) {
      return absl::DataLossError(absl::StrCat("the log in ", dir,
                                              " has no schema version; it was not written by "
                                              "this program or is damaged"));
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = raw->Put(wo, schema_key, schema_version);
    if (!s.ok()) return FromRocksDb(s, "cannot write the schema version");
  } else if (!s.ok()) {
    return FromRocksDb(s, "cannot read the schema version");
  } else if (version != schema_version) {
    return absl::FailedPreconditionError(absl::StrCat("the log in ", dir, " has schema version ",
                                                      version, "; this build reads ",
                                                      schema_version));
  }
  return opened;
}

ReopenableDb::ReopenableDb(std::string dir, std::vector<ColumnFamilySpec> cf_specs,
                           std::string schema_key, std::string schema_version,
                           std::unique_ptr<rocksdb::Env> env)
    : dir_(std::move(dir)),
      cf_specs_(std::move(cf_specs)),
      schema_key_(std::move(schema_key)),
      schema_version_(std::move(schema_version)),
      env_(std::move(env)) {}

absl::StatusOr<std::unique_ptr<ReopenableDb>> ReopenableDb::Open(std::string dir,
                                                                 std::vector<ColumnFamilySpec> cfs,
                                                                 std::string schema_key,
                                                                 std::string schema_version,
                                                                 const StoreOptions& options) {
  auto env = TestEnv(options);
  if (!env.ok()) return env.status();
  std::unique_ptr<ReopenableDb> db(new ReopenableDb(std::move(dir), std::move(cfs),
                                                    std::move(schema_key),
                                                    std::move(schema_version), *std::move(env)));
  auto opened =
      OpenRocksDb(db->dir_, db->cf_specs_, db->schema_key_, db->schema_version_, db->env_.get());
  if (!opened.ok()) return opened.status();
  absl::MutexLock lock(&db->mu);
  db->opened_ = std::move(*opened);
  return db;
}

absl::Status ReopenableDb::Reopen() {
  {
    absl::ReaderMutexLock lock(&mu);
    if (opened_ != nullptr && opened_->db->Resume().ok()) return absl::OkStatus();
  }
  absl::MutexLock lock(&mu);
  opened_.reset();
  auto reopened = OpenRocksDb(dir_, cf_specs_, schema_key_, schema_version_, env_.get());
  if (!reopened.ok()) return reopened.status();
  opened_ = std::move(*reopened);
  return absl::OkStatus();
}

absl::Status ReopenableDb::CheckOpen() const {
  if (opened_ != nullptr) return absl::OkStatus();
  return absl::UnavailableError("the store is being reopened after a write failure; retry shortly");
}

}  // namespace settle::storage
