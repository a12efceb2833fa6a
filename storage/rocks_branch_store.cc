#include "storage/rocks_branch_store.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "storage/commit_queue.h"
#include "storage/records.pb.h"
#include "storage/rocks_util.h"
#include "storage/txn_id.h"

namespace settle::storage {
namespace {

constexpr char kSchemaKey[] = "schema_version";
constexpr char kSchemaVersion[] = "settle.branchstore.1";

// The first key past every key that starts with `prefix`; empty when none is (all 0xff).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

struct Unit {
  BranchStore::Work work;
  BranchStore::Done done;
};

class BatchView final : public WorkView {
 public:
  BatchView(rocksdb::DB* db, rocksdb::WriteBatchWithIndex* batch,
            const std::vector<std::unique_ptr<rocksdb::ColumnFamilyHandle>>& cfs)
      : db_(db), batch_(batch), cfs_(cfs) {}

  absl::StatusOr<std::optional<std::string>> Get(Space space, const std::string& key) override {
    std::string value;
    rocksdb::Status s =
        batch_->GetFromBatchAndDB(db_, rocksdb::ReadOptions(), cf(space), key, &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return FromRocksDb(s, "cannot read the participant store");
    return std::optional<std::string>(std::move(value));
  }
  void Put(Space space, const std::string& key, const std::string& value) override {
    batch_->Put(cf(space), key, value);
  }
  void Delete(Space space, const std::string& key) override { batch_->Delete(cf(space), key); }

 private:
  rocksdb::ColumnFamilyHandle* cf(Space s) const { return cfs_[static_cast<int>(s)].get(); }
  rocksdb::DB* db_;
  rocksdb::WriteBatchWithIndex* batch_;
  const std::vector<std::unique_ptr<rocksdb::ColumnFamilyHandle>>& cfs_;
};

class RocksBranchStore final : public BranchStore {
 public:
  explicit RocksBranchStore(std::unique_ptr<ReopenableDb> db) : db_(std::move(db)) {
    queue_ =
        std::make_unique<CommitQueue<Unit>>([this](std::vector<Unit>& group) { Flush(group); });
  }
  ~RocksBranchStore() override {
    // Close, not reset: the last groups' callbacks may write again, through this queue.
    queue_->Close();
    queue_.reset();
  }
  RocksBranchStore(const RocksBranchStore&) = delete;
  RocksBranchStore& operator=(const RocksBranchStore&) = delete;

  void Submit(Work work, Done done) override {
    queue_->Push(Unit{std::move(work), std::move(done)});
  }
  absl::StatusOr<std::optional<std::string>> Get(Space space,
                                                 const std::string& key) const override;
  absl::Status Scan(
      Space space, const std::string& prefix, const std::string& from,
      const std::function<bool(const std::string&, const std::string&)>& visit) const override;
  absl::StatusOr<std::vector<std::string>> FinishedBarriers(absl::Time cutoff,
                                                            int max) const override;

 private:
  std::unique_ptr<ReopenableDb> db_;
  bool needs_recovery_ = false;               // Writer thread only; see TxnLog.
  std::unique_ptr<CommitQueue<Unit>> queue_;  // Last: its thread uses the fields above.

  rocksdb::ColumnFamilyHandle* cf(Space s) const ABSL_SHARED_LOCKS_REQUIRED(db_->mu) {
    return db_->cf(static_cast<int>(s));
  }

  void Flush(std::vector<Unit>& group) {
    absl::Status status;
    if (needs_recovery_) status = db_->Reopen();
    if (status.ok()) {
      absl::ReaderMutexLock lock(&db_->mu);
      status = db_->CheckOpen();
      if (status.ok()) status = ApplyAndWrite(group);
    }
    needs_recovery_ = !status.ok();
    if (!status.ok() && status.code() != absl::StatusCode::kUnavailable) {
      status = absl::UnavailableError(status.message());
    }
    for (Unit& u : group) u.done(status);
  }

  absl::Status ApplyAndWrite(std::vector<Unit>& group) ABSL_SHARED_LOCKS_REQUIRED(db_->mu) {
    rocksdb::DB* db = db_->db();
    // overwrite_key: reads inside the group must see the latest staged value of a key.
    rocksdb::WriteBatchWithIndex batch(rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true);
    BatchView view(db, &batch, db_->cfs());
    for (Unit& u : group) {
      batch.SetSavePoint();
      if (!u.work(view)) {
        batch.RollbackToSavePoint();
      } else {
        batch.PopSavePoint();
      }
    }
    if (batch.GetWriteBatch()->Count() == 0) return absl::OkStatus();
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return FromRocksDb(db->Write(wo, batch.GetWriteBatch()),
                       "the participant store cannot be written");
  }
};

absl::StatusOr<std::optional<std::string>> RocksBranchStore::Get(Space space,
                                                                 const std::string& key) const {
  absl::ReaderMutexLock lock(&db_->mu);
  if (absl::Status s = db_->CheckOpen(); !s.ok()) return s;
  std::string value;
  rocksdb::Status s = db_->db()->Get(rocksdb::ReadOptions(), cf(space), key, &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocksDb(s, "cannot read the participant store");
  return std::optional<std::string>(std::move(value));
}

absl::Status RocksBranchStore::Scan(
    Space space, const std::string& prefix, const std::string& from,
    const std::function<bool(const std::string&, const std::string&)>& visit) const {
  absl::ReaderMutexLock lock(&db_->mu);
  if (absl::Status s = db_->CheckOpen(); !s.ok()) return s;
  // The bound keeps the iterator inside the prefix: without it, a Seek past the prefix's last
  // live key walks every tombstone after it (the in-doubt index deletes one per decision, and
  // the three-phase timer scan every 100 ms walked all of them).
  const std::string end = PrefixEnd(prefix);
  rocksdb::Slice end_slice(end);
  rocksdb::ReadOptions ro;
  if (!end.empty()) ro.iterate_upper_bound = &end_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, cf(space)));
  for (it->Seek(std::max(prefix, from)); it->Valid(); it->Next()) {
    if (!it->key().starts_with(prefix)) break;
    if (!visit(it->key().ToString(), it->value().ToString())) break;
  }
  return FromRocksDb(it->status(), "cannot scan the participant store");
}

absl::StatusOr<std::vector<std::string>> RocksBranchStore::FinishedBarriers(absl::Time cutoff,
                                                                            int max) const {
  const int64_t cutoff_micros = absl::ToUnixMicros(cutoff);
  std::vector<std::string> due;
  std::string from;
  for (bool next_shard = true; next_shard && static_cast<int>(due.size()) < max;) {
    next_shard = false;
    absl::Status bad;
    absl::Status s =
        Scan(Space::kBarrier, "", from, [&](const std::string& key, const std::string& value) {
          const auto id = ParseTxnId(absl::string_view(key).substr(0, key.rfind('/')));
          if (id.has_value() && id->counter >= static_cast<uint64_t>(cutoff_micros)) {
            // Ids grow with begin time, so the rest of this shard began after the cutoff and
            // none of it can be due: go on past the shard's last possible key ('0' > '/').
            from = TxnIdFor(id->shard, UINT64_MAX) + "0";
            next_shard = true;
            return false;
          }
          BarrierRecord rec;
          if (!rec.ParseFromString(value)) {
            bad = absl::DataLossError(absl::StrCat("barrier record ", key, " is unreadable"));
            return false;
          }
          const bool finished = rec.state() == BARRIER_COMMITTED || rec.state() == BARRIER_ABORTED;
          if (finished && rec.update_micros() < cutoff_micros) due.push_back(key);
          return static_cast<int>(due.size()) < max;
        });
    if (!s.ok()) return s;
    if (!bad.ok()) return bad;
  }
  return due;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BranchStore>> OpenRocksBranchStore(const std::string& dir,
                                                                  const StoreOptions& options) {
  // Queues: barrier records are swept by age, and the meta space's index of prepared branches
  // loses an entry with every decision (the in-doubt resolver scans it every few seconds).
  auto store =
      ReopenableDb::Open(dir, {{"data"}, {"barrier", /*queue=*/true}, {"meta", /*queue=*/true}},
                         kSchemaKey, kSchemaVersion, options);
  if (!store.ok()) return store.status();
  return std::make_unique<RocksBranchStore>(std::move(*store));
}

}  // namespace settle::storage
