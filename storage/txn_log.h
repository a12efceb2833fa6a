#ifndef SETTLE_STORAGE_TXN_LOG_H_
#define SETTLE_STORAGE_TXN_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/decision_log.h"
#include "storage/record_cipher.h"
#include "storage/records.pb.h"
#include "storage/store_options.h"

namespace settle::storage {

// The coordinator's transaction log on RocksDB. Keeps active and finished transactions in
// separate column families (start-up reads only the active ones), an index from idempotency key
// to transaction id, the participant registry and a schema version.
//
// Writes go through one group-commit writer thread: concurrent writers share one write and, if
// any of them asked for it, one sync. Thread-safe; reads may run concurrently with writes.
class TxnLog final : public DecisionLog {
 public:
  using Done = std::function<void(absl::Status)>;
  using StatsObserver = std::function<void(const GroupWriteStats&)>;

  struct Options : StoreOptions {
    // Set: transaction records are sealed at rest (storage/record_cipher.h).
    std::shared_ptr<const RecordCipher> cipher;
  };
  // Opens or creates the log in `dir`. DATA_LOSS when the folder holds a damaged or foreign
  // database (the process must not serve); FAILED_PRECONDITION on a schema version mismatch;
  // UNAVAILABLE when the disk cannot be used. Reads of a sealed record whose key is not given
  // answer FAILED_PRECONDITION; of one whose tag does not verify, DATA_LOSS.
  static absl::StatusOr<std::unique_ptr<TxnLog>> Open(const std::string& dir,
                                                     const Options& options);
  static absl::StatusOr<std::unique_ptr<TxnLog>> Open(const std::string& dir) {
    return Open(dir, Options());
  }
  ~TxnLog() override;
  TxnLog(const TxnLog&) = delete;
  TxnLog& operator=(const TxnLog&) = delete;

  // Queues `batch` and returns at once. `done` runs on the writer thread once the batch is
  // applied, and on stable storage when `sync`; it must not block. UNAVAILABLE: nothing of the
  // batch was persisted (the whole group it shared a write with failed).
  void Write(LogBatch batch, bool sync, Done done) override;
  // The same, waiting for the result. For start-up and tools, never on a gRPC thread.
  absl::Status WriteAndWait(LogBatch batch, bool sync) override;

  // Called on the writer thread after every group write. Set before the first write.
  void SetStatsObserver(StatsObserver observer);

  // Every active (undecided or undelivered) transaction, oldest first. DATA_LOSS if a record
  // does not parse.
  absl::StatusOr<std::vector<TxnRecord>> LoadActive() const override;
  absl::StatusOr<std::vector<ParticipantRecord>> LoadParticipants() const override;
  // An active or finished transaction; nullopt if the log has none by that id.
  absl::StatusOr<std::optional<TxnRecord>> Find(const std::string& txn_id) const override;
  absl::StatusOr<std::optional<TxnRecord>> FindFinished(const std::string& txn_id) const override;
  // The transaction id recorded for an idempotency key, if any.
  absl::StatusOr<std::optional<std::string>> FindTxnIdByKey(const std::string& key) const override;
  // The greatest transaction id ever written (ids are fixed-width and grow with time).
  absl::StatusOr<std::string> MaxTxnId() const override;
  // The last ceiling ReserveIds wrote; 0 if none.
  absl::StatusOr<uint64_t> IdCeiling() const override;
  absl::StatusOr<std::string> ClaimedShard() const override;

  using ScanSet = storage::ScanSet;
  // Visits transactions with id >= `from_id` in id order (with kAll, finished and active
  // merged), until `visit` returns false or `max_examined` records were visited (0: no limit).
  // Returns the id of the last record visited when it stopped early, or "" at the end.
  absl::StatusOr<std::string> Scan(const std::string& from_id, ScanSet set, int max_examined,
                                   const std::function<bool(const TxnRecord&)>& visit) const override;

  // Removes up to `max` finished transactions (and their keys) that finished before `cutoff`,
  // through the writer, starting at `*cursor` ("" for the oldest) and leaving it where the
  // next call should start: every finished transaction before it is gone, so repeated calls
  // never walk the same deletions again. Returns how many were removed.
  absl::StatusOr<int> DeleteFinishedBefore(absl::Time cutoff, int max,
                                           std::string* cursor) override;

  absl::StatusOr<std::vector<std::pair<std::string, AuditRecord>>> ListAudit(
      const std::string& after_key, int max, bool newest_first) const override;

  // Compacts every column family fully and waits for it. For tools that wrote a lot at once
  // (settle-bench seeds a log so that later measurements do not pay for its compaction).
  absl::Status Compact();

 private:
  struct Pending;
  struct Impl;
  explicit TxnLog(std::unique_ptr<Impl> impl);
  void FlushGroup(std::vector<Pending>& group);

  std::unique_ptr<Impl> impl_;
};

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_TXN_LOG_H_
