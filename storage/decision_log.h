#ifndef SETTLE_STORAGE_DECISION_LOG_H_
#define SETTLE_STORAGE_DECISION_LOG_H_

// The engine's view of its log: what the coordinator writes and reads, with no storage engine in
// sight. TxnLog (RocksDB) is the production implementation; tests/testing/memory_log.h keeps it
// in memory, completes writes when a test says so and loses what a crash would lose.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/records.pb.h"

namespace settle::storage {

// A set of log changes applied atomically: all of them reach the disk, or none.
class LogBatch final {
 public:
  // A transaction that began: its active record and its idempotency-key entry.
  void Begin(const TxnRecord& rec);
  // Replaces the active record (per-branch state).
  void UpdateActive(const TxnRecord& rec);
  // The decision: the whole active record and the key entry again, so that it stands alone
  // when the begin record it follows was lost (Prepares do not wait for the begin record).
  void Decide(const TxnRecord& rec);
  // A terminal transaction leaves the active set for the finished set.
  void Finish(const TxnRecord& rec);
  // A begin that must not stay: removes the active record and its key entry.
  void Forget(const TxnRecord& rec);
  void PutParticipant(const ParticipantRecord& rec);
  void DeleteParticipant(const std::string& name);
  // Transaction id counters below `ceiling` may be issued. The coordinator reserves ids ahead
  // of issuing them, so a restart starts past every id a crash may have lost (Prepares go out
  // before the begin record is written) even if the clock stepped back meanwhile.
  void ReserveIds(uint64_t ceiling);
  // The shard whose coordinator writes this log; written with every id reservation, so a log
  // is never taken over by another shard (its ids, and the decisions it answers, are one
  // shard's).
  void ClaimShard(const std::string& shard);
  // A finished transaction past retention: its record and its key entry go.
  void RemoveFinished(const TxnRecord& rec);
  // An entry of the operators' audit trail, under `key` (AuditKey; the same key again
  // replaces it).
  void PutAudit(const std::string& key, const AuditRecord& rec);
  // Audit keys sort by time: the prefix, then micros and a sequence number, fixed width.
  static std::string AuditKey(int64_t micros, uint64_t sequence);
  static const char kAuditPrefix[];

  bool empty() const { return ops_.empty(); }

  // The changes, for implementations of DecisionLog.
  // kAudit shares kMeta's space (keys under kAuditPrefix).
  enum class Space { kActive, kFinished, kKeys, kParticipants, kMeta };
  struct Op {
    Space space;
    std::string key;
    std::optional<std::string> value;  // nullopt: delete.
  };
  const std::vector<Op>& ops() const { return ops_; }
  // The key of the id ceiling in Space::kMeta; its value is the decimal ceiling.
  static const char kIdCeilingKey[];
  // The key of the claiming shard's name in Space::kMeta.
  static const char kShardKey[];

 private:
  std::vector<Op> ops_;
};

// Figures about one group write, for metrics.
struct GroupWriteStats {
  size_t batches;  // LogBatches in the group (about one per transaction step).
  bool synced;
  absl::Duration latency;
  bool ok;  // False: the write failed and nothing of the group was persisted.
};

// Which transactions a Scan visits: all of them, or only the active (not yet terminal) set,
// which it reads without touching the finished history.
enum class ScanSet { kAll, kActive };

// Thread-safe. Reads may run concurrently with writes; a write's `done` may run on any thread
// (the writer's, or the test's that completes it) and must not block.
class DecisionLog {
 public:
  using Done = std::function<void(absl::Status)>;
  virtual ~DecisionLog() = default;

  // Queues `batch` and returns at once. The log applies batches in queue order; `done` runs
  // once the batch is applied, and on stable storage when `sync`. UNAVAILABLE: nothing of the
  // batch was persisted.
  virtual void Write(LogBatch batch, bool sync, Done done) = 0;
  // The same, waiting for the result. For start-up and tools, never on a gRPC thread.
  virtual absl::Status WriteAndWait(LogBatch batch, bool sync) = 0;

  // Every active (undecided or undelivered) transaction, oldest first. DATA_LOSS if a record
  // does not parse.
  virtual absl::StatusOr<std::vector<TxnRecord>> LoadActive() const = 0;
  virtual absl::StatusOr<std::vector<ParticipantRecord>> LoadParticipants() const = 0;
  // An active or finished transaction; nullopt if the log has none by that id.
  virtual absl::StatusOr<std::optional<TxnRecord>> Find(const std::string& txn_id) const = 0;
  virtual absl::StatusOr<std::optional<TxnRecord>> FindFinished(
      const std::string& txn_id) const = 0;
  // The transaction id recorded for an idempotency key, if any.
  virtual absl::StatusOr<std::optional<std::string>> FindTxnIdByKey(
      const std::string& key) const = 0;
  // The greatest transaction id ever written (ids are fixed-width and grow with time).
  virtual absl::StatusOr<std::string> MaxTxnId() const = 0;
  // The last ceiling ReserveIds wrote; 0 if none.
  virtual absl::StatusOr<uint64_t> IdCeiling() const = 0;
  // The shard ClaimShard last wrote; "" if none did.
  virtual absl::StatusOr<std::string> ClaimedShard() const = 0;

  // Visits transactions with id >= `from_id` in id order (with kAll, finished and active
  // merged), until `visit` returns false or `max_examined` records were visited (0: no limit).
  // Returns the id of the last record visited when it stopped early, or "" at the end.
  virtual absl::StatusOr<std::string> Scan(
      const std::string& from_id, ScanSet set, int max_examined,
      const std::function<bool(const TxnRecord&)>& visit) const = 0;

  // Removes up to `max` finished transactions (and their keys) that finished before `cutoff`,
  // through the writer, starting at `*cursor` ("" for the oldest) and leaving it where the
  // next call should start: every finished transaction before it is gone, so repeated calls
  // never walk the same deletions again. Returns how many were removed.
  virtual absl::StatusOr<int> DeleteFinishedBefore(absl::Time cutoff, int max,
                                                   std::string* cursor) = 0;

  // Up to `max` audit entries that come after `after_key` ("" for the first) in the listing's
  // order, oldest first or, with `newest_first`, newest first; each with its key. DATA_LOSS if
  // one does not parse.
  virtual absl::StatusOr<std::vector<std::pair<std::string, AuditRecord>>> ListAudit(
      const std::string& after_key, int max, bool newest_first) const = 0;
};

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_DECISION_LOG_H_
