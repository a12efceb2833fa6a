#include "storage/branch_store.h"

#include <future>
#include <utility>
#include <vector>

#include "rocksdb/db.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "storage/commit_queue.h"
#include "storage/rocks_util.h"

namespace settle::storage {
namespace {

constexpr char kSchemaKey[] = "schema_version";
constexpr char kSchemaVersion[] = "settle.branchstore.1";

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
    rocksdb::Status s = batch_->GetFromBatchAndDB(db_, rocksdb::ReadOptions(), cf(space), key,
                                                  &value);
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

}  // namespace

struct BranchStore::Impl {
  std::unique_ptr<ReopenableDb> store;
  bool needs_recovery = false;  // Writer thread only; see TxnLog.
  std::unique_ptr<CommitQueue<Unit>> queue;  // Last: its thread uses the fields above.

  rocksdb::ColumnFamilyHandle* cf(Space s) const ABSL_SHARED_LOCKS_REQUIRED(store->mu) {
    return store->cf(static_cast<int>(s));
  }

  void Flush(std::vector<Unit>& group) {
    absl::Status status;
    if (needs_recovery) status = store->Reopen();
    if (status.ok()) {
      absl::ReaderMutexLock lock(&store->mu);
      status = store->CheckOpen();
      if (status.ok()) status = ApplyAndWrite(group);
    }
    needs_recovery = !status.ok();
    if (!status.ok() && status.code() != absl::StatusCode::kUnavailable) {
      status = absl::UnavailableError(status.message());
    }
    for (Unit& u : group) u.done(status);
  }

  absl::Status ApplyAndWrite(std::vector<Unit>& group) ABSL_SHARED_LOCKS_REQUIRED(store->mu) {
    rocksdb::DB* db = store->db();
    // overwrite_key: reads inside the group must see the latest staged value of a key.
    rocksdb::WriteBatchWithIndex batch(rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true);
    BatchView view(db, &batch, store->cfs());
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

absl::StatusOr<std::unique_ptr<BranchStore>> BranchStore::Open(const std::string& dir,
                                                               const Options& options) {
  auto impl = std::make_unique<Impl>();
  // Queues: barrier records are swept by age, and the meta space's index of prepared branches
  // loses an entry with every decision (the in-doubt resolver scans it every few seconds).
  auto store =
      ReopenableDb::Open(dir, {{"data"}, {"barrier", /*queue=*/true}, {"meta", /*queue=*/true}},
                         kSchemaKey, kSchemaVersion, options);
  if (!store.ok()) return store.status();
  impl->store = std::move(*store);
  Impl* raw = impl.get();
  impl->queue =
      std::make_unique<CommitQueue<Unit>>([raw](std::vector<Unit>& group) { raw->Flush(group); });
  return std::unique_ptr<BranchStore>(new BranchStore(std::move(impl)));
}

BranchStore::BranchStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BranchStore::~BranchStore() {
  // Close, not reset: the last groups' callbacks may write again, through this queue.
  impl_->queue->Close();
  impl_->queue.reset();
}

void BranchStore::Submit(Work work, Done done) {
  impl_->queue->Push(Unit{std::move(work), std::move(done)});
}

absl::Status BranchStore::SubmitAndWait(Work work) {
  std::promise<absl::Status> result;
  Submit(std::move(work), [&result](absl::Status s) { result.set_value(std::move(s)); });
  return result.get_future().get();
}

absl::StatusOr<std::optional<std::string>> BranchStore::Get(Space space,
                                                            const std::string& key) const {
  absl::ReaderMutexLock lock(&impl_->store->mu);
  if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
  std::string value;
  rocksdb::Status s =
      impl_->store->db()->Get(rocksdb::ReadOptions(), impl_->cf(space), key, &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocksDb(s, "cannot read the participant store");
  return std::optional<std::string>(std::move(value));
}

absl::Status BranchStore::Scan(
    Space space, const std::string& prefix, const std::string& from,
    const std::function<bool(const std::string&, const std::string&)>& visit) const {
  absl::ReaderMutexLock lock(&impl_->store->mu);
  if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->store->db()->NewIterator(rocksdb::ReadOptions(), impl_->cf(space)));
  for (it->Seek(std::max(prefix, from)); it->Valid(); it->Next()) {
    if (!it->key().starts_with(prefix)) break;
    if (!visit(it->key().ToString(), it->value().ToString())) break;
  }
  return FromRocksDb(it->status(), "cannot scan the participant store");
}

}  // namespace settle::storage
