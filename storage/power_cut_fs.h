#ifndef SETTLE_STORAGE_POWER_CUT_FS_H_
#define SETTLE_STORAGE_POWER_CUT_FS_H_

// TEST ONLY: a simulated power cut, in the spirit of leveldb's fault_injection_test and LazyFS.
// Nothing uses it unless --test_power_cut_journal names a file, and builds made with
// -DSETTLE_TEST_HOOKS=OFF (the image) leave it out.
//
// kill -9 loses nothing a process wrote, since the page cache outlives it; a power cut loses
// every write that was not synced. The file system below writes, for each store, a journal of
// what reached stable storage: files created, their contents' length at each Sync/Fsync, which
// directories were synced, renames. The journal is a plain file, so it too outlives a kill -9.
// After every process of the stack is killed, RollBackToSynced() turns each data dir into what
// a power cut would have left, and the processes are started again on it.
//
// Journal lines, tab-separated, in the order the events happened:
//   C <path>                a file was created (its directory entry not yet durable)
//   S <size> <path>         its first <size> bytes are on stable storage
//   D <dir>                 every entry of <dir> is durable
//   R <src> <dst> <saved>   src renamed over dst; <saved> holds dst's old bytes, or "-"
//   X <path>                a file was deleted

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "absl/status/statusor.h"
#include "rocksdb/file_system.h"

namespace settle::storage {

// Wraps `base`, journaling to `journal` (appended to; created if missing). A crash point can be
// armed from outside: when a file `<journal>.cut` holding "<n> before" or "<n> after" appears,
// the n-th sync from then on (of a file or a directory) kills the process (SIGKILL) just before
// the sync reaches the disk or just after it did. Thread-safe.
std::shared_ptr<rocksdb::FileSystem> NewPowerCutFileSystemForTest(
    std::shared_ptr<rocksdb::FileSystem> base, const std::string& journal);

// What one roll-back did to a data dir.
struct PowerCutReport {
  int files_removed = 0;   // Created, but their directory entry was never synced.
  int tails_dropped = 0;   // Everything after the synced length gone.
  int tails_torn = 0;      // Cut at a random byte after the synced length.
  int renames_undone = 0;  // The old file back in place.
  uint64_t bytes_lost = 0;

  PowerCutReport& operator+=(const PowerCutReport& o) {
    files_removed += o.files_removed;
    tails_dropped += o.tails_dropped;
    tails_torn += o.tails_torn;
    renames_undone += o.renames_undone;
    bytes_lost += o.bytes_lost;
    return *this;
  }
};

// Rolls every file `journal` names back to its synced state, as a power cut would leave it:
// unsynced tails dropped or torn at a random byte (chosen by `rng`), files whose directory entry
// was never synced removed, unsynced renames undone. Then empties the journal. Files the journal
// does not name are left as they are. Every process writing through this journal must be dead.
absl::StatusOr<PowerCutReport> RollBackToSynced(const std::string& journal, std::mt19937& rng);

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_POWER_CUT_FS_H_
