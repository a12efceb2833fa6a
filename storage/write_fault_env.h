#ifndef SETTLE_STORAGE_WRITE_FAULT_ENV_H_
#define SETTLE_STORAGE_WRITE_FAULT_ENV_H_

// Internal to storage/. TEST ONLY: a RocksDB Env whose file writes fail, as on a full disk,
// while a trigger file exists. Fault tests create and remove the file from outside the process;
// nothing uses this unless --test_write_fault_trigger names a file.

#include <memory>
#include <string>

#include "rocksdb/file_system.h"

namespace settle::storage {

// Every Append, Flush, Sync and Fsync of files the database writes through `base` returns
// NoSpace while `trigger_path` exists. Thread-safe.
std::shared_ptr<rocksdb::FileSystem> NewWriteFaultFileSystemForTest(
    std::shared_ptr<rocksdb::FileSystem> base, const std::string& trigger_path);

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_WRITE_FAULT_ENV_H_
