#ifndef SETTLE_STORAGE_BRANCH_STORE_H_
#define SETTLE_STORAGE_BRANCH_STORE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/store_options.h"

namespace settle::storage {

// Key spaces of a participant's store.
enum class Space {
  kData,     // The service's own business state (accounts, journal, outbox).
  kBarrier,  // The SDK's record of each branch: prepared, committed, aborted.
  kMeta,     // The SDK's counters.
};

// Reads and stages writes inside one unit of work. Reads see the store plus every write staged
// so far in the same group, so units of work applied one after another see each other's effects
// before they reach the disk. Used only on the store's writer thread, during Apply.
class WorkView {
 public:
  virtual ~WorkView() = default;
  // nullopt when absent. UNAVAILABLE if the store cannot be read.
  virtual absl::StatusOr<std::optional<std::string>> Get(Space space, const std::string& key) = 0;
  virtual void Put(Space space, const std::string& key, const std::string& value) = 0;
  virtual void Delete(Space space, const std::string& key) = 0;
};

// A participant's local store on RocksDB. The service's business change and the SDK's barrier
// record are staged by the same unit of work and written in one atomic, synced WriteBatch, so
// neither can exist without the other (the idea behind DTM's barrier and Seata's TCC fence,
// with no extra round trip).
//
// Units of work are applied one at a time, in submission order, on one writer thread; all units
// queued together share one synced write. After a failed write the database is reopened in
// place before the next group (see ReopenableDb), so a full disk needs no restart. Thread-safe.
class BranchStore final {
 public:
  // Runs on the writer thread; stages writes through `view` and must not block. Returns false to
  // drop everything it staged (its effects never happen).
  using Work = std::function<bool(WorkView& view)>;
  // Runs on the writer thread after the group's write: OK once durable, UNAVAILABLE if nothing
  // of the group was persisted.
  using Done = std::function<void(absl::Status)>;

  // DATA_LOSS for a damaged or foreign database; UNAVAILABLE when the disk cannot be used.
  using Options = StoreOptions;
  static absl::StatusOr<std::unique_ptr<BranchStore>> Open(const std::string& dir,
                                                           const Options& options);
  static absl::StatusOr<std::unique_ptr<BranchStore>> Open(const std::string& dir) {
    return Open(dir, Options());
  }
  ~BranchStore();
  BranchStore(const BranchStore&) = delete;
  BranchStore& operator=(const BranchStore&) = delete;

  void Submit(Work work, Done done);
  absl::Status SubmitAndWait(Work work);

  // Committed state only (not staged writes). For queries and start-up.
  absl::StatusOr<std::optional<std::string>> Get(Space space, const std::string& key) const;
  // Visits keys >= `from` with `prefix`, in order, until `visit` returns false.
  absl::Status Scan(Space space, const std::string& prefix, const std::string& from,
                    const std::function<bool(const std::string& key,
                                             const std::string& value)>& visit) const;

 private:
  struct Impl;
  explicit BranchStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_BRANCH_STORE_H_
