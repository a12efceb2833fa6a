#ifndef SETTLE_STORAGE_ROCKS_BRANCH_STORE_H_
#define SETTLE_STORAGE_ROCKS_BRANCH_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/branch_store.h"
#include "storage/store_options.h"

namespace settle::storage {

// A participant's store on RocksDB in its own folder. The service's business change and the
// SDK's barrier record are staged by the same unit of work and written in one atomic, synced
// WriteBatch, so neither can exist without the other (the idea behind DTM's barrier and Seata's
// TCC fence, with no extra round trip).
//
// Units of work are applied one at a time, in submission order, on one writer thread; all units
// queued together share one synced write. After a failed write the database is reopened in
// place before the next group (see ReopenableDb), so a full disk needs no restart.
//
// DATA_LOSS for a damaged or foreign database; UNAVAILABLE when the disk cannot be used.
absl::StatusOr<std::unique_ptr<BranchStore>> OpenRocksBranchStore(
    const std::string& dir, const StoreOptions& options = StoreOptions());

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_ROCKS_BRANCH_STORE_H_
