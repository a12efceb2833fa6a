#ifndef SETTLE_STORAGE_ROCKS_UTIL_H_
#define SETTLE_STORAGE_ROCKS_UTIL_H_

// Internal to storage/: the one place RocksDB errors become absl::Status, and the shared way
// both stores open their database.

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"
#include "storage/store_options.h"

namespace settle::storage {

// Maps a RocksDB status to the code a caller acts on: I/O errors and a full disk are
// UNAVAILABLE (retry), corruption is DATA_LOSS (stop), the rest keep their nearest code.
absl::Status FromRocksDb(const rocksdb::Status& s, const std::string& what);

// A column family to open. `queue`: rows leave roughly in the order they came (an active set,
// an index of pending work, records removed by age), so tombstones gather where scans start;
// files dense with them are compacted early instead of when their level fills.
struct ColumnFamilySpec {
  std::string name;
  bool queue = false;
};

// An open database with its column families: `cfs[i]` is the i-th name asked for (the default
// column family, which holds only the schema version, is kept apart).
struct OpenedDb {
  std::unique_ptr<rocksdb::DB> db;
  std::unique_ptr<rocksdb::ColumnFamilyHandle> default_cf;
  std::vector<std::unique_ptr<rocksdb::ColumnFamilyHandle>> cfs;
  ~OpenedDb();
};

// Opens (or creates) the database in `dir` with the named column families. Refuses, with
// DATA_LOSS, a non-empty folder that holds no database and any database RocksDB finds corrupt,
// so that a damaged log never turns into an empty fresh start.
// `env` (may be null: the default) must outlive the database.
absl::StatusOr<std::unique_ptr<OpenedDb>> OpenRocksDb(const std::string& dir,
                                                      const std::vector<ColumnFamilySpec>& cfs,
                                                      const std::string& schema_key,
                                                      const std::string& schema_version,
                                                      rocksdb::Env* env = nullptr);

// A store's database that can be closed and opened again in place after a failed write.
// RocksDB treats a failed WAL write as fatal (Resume() refuses it), so once the disk works again
// the database is closed and opened anew, which replays its WAL; until then reopening fails and
// the next write tries again. Readers hold `mu` shared and call CheckOpen(); Reopen() holds it
// exclusively. Thread-safe.
class ReopenableDb final {
 public:
  // Opens it as OpenRocksDb does, through the test-only failing Env when `options` asks.
  static absl::StatusOr<std::unique_ptr<ReopenableDb>> Open(std::string dir,
                                                            std::vector<ColumnFamilySpec> cfs,
                                                            std::string schema_key,
                                                            std::string schema_version,
                                                            const StoreOptions& options);

  // After a failed write, before the next: Resume() if RocksDB allows it, else close and open.
  absl::Status Reopen() ABSL_LOCKS_EXCLUDED(mu);
  // UNAVAILABLE while the database is closed because reopening it failed.
  absl::Status CheckOpen() const ABSL_SHARED_LOCKS_REQUIRED(mu);
  rocksdb::DB* db() const ABSL_SHARED_LOCKS_REQUIRED(mu) { return opened_->db.get(); }
  rocksdb::ColumnFamilyHandle* cf(int i) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return opened_->cfs[i].get();
  }
  const std::vector<std::unique_ptr<rocksdb::ColumnFamilyHandle>>& cfs() const
      ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return opened_->cfs;
  }

  mutable absl::Mutex mu;

 private:
  ReopenableDb(std::string dir, std::vector<ColumnFamilySpec> cf_specs, std::string schema_key,
               std::string schema_version, std::unique_ptr<rocksdb::Env> env);

  const std::string dir_;
  const std::vector<ColumnFamilySpec> cf_specs_;
  const std::string schema_key_;
  const std::string schema_version_;
  const std::unique_ptr<rocksdb::Env> env_;  // Null: the default. Outlives every open below.
  std::unique_ptr<OpenedDb> opened_ ABSL_GUARDED_BY(mu);  // Null while it cannot be reopened.
};

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_ROCKS_UTIL_H_
