#ifndef SETTLE_TESTS_TESTING_MEMORY_LOG_H_
#define SETTLE_TESTS_TESTING_MEMORY_LOG_H_

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/decision_log.h"

namespace settle::testing {

// The decision log in memory, for the engine's unit tests. A Write is only queued; the test
// completes queued writes one at a time, in queue order, and decides what a crash loses: a
// kill -9 loses the queued writes; a power cut also loses every applied write that no synced
// write has followed (a synced write makes everything before it durable, as a WAL sync does).
// WriteAndWait (start-up only) applies and syncs at once.
//
// Thread-safe; `done` callbacks run on the thread that completes the write, outside the lock.
class MemoryLog final : public storage::DecisionLog {
 public:
  void Write(storage::LogBatch batch, bool sync, Done done) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status WriteAndWait(storage::LogBatch batch, bool sync) override
      ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<std::vector<storage::TxnRecord>> LoadActive() const override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<storage::ParticipantRecord>> LoadParticipants() const override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::optional<storage::TxnRecord>> Find(const std::string& txn_id) const override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::optional<storage::TxnRecord>> FindFinished(
      const std::string& txn_id) const override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::optional<std::string>> FindTxnIdByKey(const std::string& key) const override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::string> MaxTxnId() const override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<uint64_t> IdCeiling() const override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::string> ClaimedShard() const override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::string> Scan(
      const std::string& from_id, storage::ScanSet set, int max_examined,
      const std::function<bool(const storage::TxnRecord&)>& visit) const override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<int> DeleteFinishedBefore(absl::Time cutoff, int max,
                                           std::string* cursor) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<std::pair<std::string, storage::AuditRecord>>> ListAudit(
      const std::string& after_key, int max, bool newest_first) const override
      ABSL_LOCKS_EXCLUDED(mu_);

  // ---- What the test controls ----
  // A queued write, as the test sees it before completing it.
  struct Queued {
    bool sync;
    // The transaction record it writes (active or finished), if any.
    std::optional<storage::TxnRecord> txn;
    bool finishes;  // It moves a transaction to the finished set.
  };
  size_t queued() const ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<Queued> PeekQueued() const ABSL_LOCKS_EXCLUDED(mu_);
  // Applies the oldest queued write and runs its `done`; false if none is queued. A write
  // failed by FailNextWrites applies nothing and is told UNAVAILABLE.
  bool CompleteOne() ABSL_LOCKS_EXCLUDED(mu_);
  // Applies the oldest queued write but never tells its writer: the process died after it.
  bool ApplyOneSilently() ABSL_LOCKS_EXCLUDED(mu_);
  // The process died: queued writes are dropped, their `done` never runs. With `power_cut`,
  // applied writes since the last sync are lost too.
  void Crash(bool power_cut) ABSL_LOCKS_EXCLUDED(mu_);
  void FailNextWrites(int n) ABSL_LOCKS_EXCLUDED(mu_);
  // While set, every write completed fails (a full disk); WriteAndWait too.
  void SetWritesFail(bool fail) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Pending {
    storage::LogBatch batch;
    bool sync;
    Done done;
  };
  // One map per LogBatch::Space.
  using State = std::map<storage::LogBatch::Space, std::map<std::string, std::string>>;
  void ApplyLocked(const Pending& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::optional<storage::TxnRecord>> GetLocked(storage::LogBatch::Space space,
                                                              const std::string& id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  State current_ ABSL_GUARDED_BY(mu_);
  State durable_ ABSL_GUARDED_BY(mu_);
  int fail_next_ ABSL_GUARDED_BY(mu_) = 0;
  bool writes_fail_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace settle::testing

#endif  // SETTLE_TESTS_TESTING_MEMORY_LOG_H_
