#ifndef SETTLE_STORAGE_BRANCH_STORE_H_
#define SETTLE_STORAGE_BRANCH_STORE_H_

// The participant SDK's store: where a service's business change and the SDK's barrier record of
// each branch are written in one atomic unit. Two implementations: RocksDB in the participant's
// own folder (rocks_branch_store.h) and the service's PostgreSQL database (postgres/).

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/sql_txn.h"

namespace settle::storage {

// Key spaces of a participant's store.
enum class Space {
  kData,     // The service's own business state (accounts, journal, outbox).
  kBarrier,  // The SDK's record of each branch: prepared, committed, aborted.
  kMeta,     // The SDK's indexes and counters (prepared branches, timers, dedup records).
};

// Reads and stages writes inside one unit of work. Used only during the unit, on the thread that
// runs it. On RocksDB, reads see the store plus every write staged so far in the same group; on
// a SQL store, the unit's own SQL transaction (READ COMMITTED), and a barrier record read here
// stays locked until the unit ends.
class WorkView {
 public:
  virtual ~WorkView() = default;
  // nullopt when absent. UNAVAILABLE if the store cannot be read.
  virtual absl::StatusOr<std::optional<std::string>> Get(Space space, const std::string& key) = 0;
  virtual void Put(Space space, const std::string& key, const std::string& value) = 0;
  virtual void Delete(Space space, const std::string& key) = 0;
  // The unit's SQL transaction on a SQL store; null on RocksDB.
  virtual SqlTxn* sql() { return nullptr; }
};

// Units of work, each applied atomically: everything a unit stages is durable together, or none
// of it. A unit's writes are durable before its Done runs with OK. Thread-safe.
class BranchStore {
 public:
  // Stages writes through `view` and must not block on anything but the store. Returns false to
  // drop everything it staged (its effects never happen). May run more than once (a SQL store
  // reruns a unit the database rolled back for a conflict); only the last run's writes persist.
  using Work = std::function<bool(WorkView& view)>;
  // Runs after the unit's write: OK once durable, UNAVAILABLE if nothing of it was persisted.
  using Done = std::function<void(absl::Status)>;

  virtual ~BranchStore() = default;

  // Runs `work` on one of the store's threads, then `done`. Submission order is kept on RocksDB
  // (one writer); a SQL store runs units on a pool of connections, ordered by the database's
  // locks.
  virtual void Submit(Work work, Done done) = 0;
  absl::Status SubmitAndWait(Work work) {
    std::promise<absl::Status> result;
    Submit(std::move(work), [&result](absl::Status s) { result.set_value(std::move(s)); });
    return result.get_future().get();
  }

  // Committed state only (not staged writes). For queries and start-up.
  virtual absl::StatusOr<std::optional<std::string>> Get(Space space,
                                                         const std::string& key) const = 0;
  // Visits keys >= `from` with `prefix`, in byte order, until `visit` returns false.
  virtual absl::Status Scan(
      Space space, const std::string& prefix, const std::string& from,
      const std::function<bool(const std::string& key, const std::string& value)>& visit) const = 0;
  // Keys of up to `max` finished barrier records (committed or aborted) last changed before
  // `cutoff`, for the retention sweep; prepared ones are never listed. DATA_LOSS if a record
  // is unreadable; UNAVAILABLE if the store cannot be read.
  virtual absl::StatusOr<std::vector<std::string>> FinishedBarriers(absl::Time cutoff,
                                                                    int max) const = 0;
};

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_BRANCH_STORE_H_
