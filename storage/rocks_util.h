#ifndef SETTLE_STORAGE_ROCKS_UTIL_H_
#define SETTLE_STORAGE_ROCKS_UTIL_H_

// Internal to storage/: the one place RocksDB errors become absl::Status, and the shared way
// both stores open their database.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/db.h"

namespace settle::storage {

// Maps a RocksDB status to the code a caller acts on: I/O errors and a full disk are
// UNAVAILABLE (retry), corruption is DATA_LOSS (stop), the rest keep their nearest code.
absl::Status FromRocksDb(const rocksdb::Status& s, const std::string& what);

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
                                                      const std::vector<std::string>& cf_names,
                                                      const std::string& schema_key,
                                                      const std::string& schema_version,
                                                      rocksdb::Env* env = nullptr);

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_ROCKS_UTIL_H_
