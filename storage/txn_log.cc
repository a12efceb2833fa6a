#include "storage/txn_log.h"

#include <future>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/commit_queue.h"
#include "storage/rocks_util.h"

namespace settle::storage {
namespace {

constexpr char kSchemaKey[] = "schema_version";
constexpr char kSchemaVersion[] = "settle.txnlog.1";
// Column family order in OpenedDb::cfs.
enum Cf { kActiveCf = 0, kFinishedCf, kKeysCf, kParticipantsCf };
// The active set is a queue: every finished transaction leaves a tombstone there. Retention
// removes the oldest finished ones too, but its sweep keeps a cursor past their tombstones; as
// queues, finished and idempotency cost a third of the throughput while the bench removed a
// backlog of 1,000,000.
const std::vector<ColumnFamilySpec>& CfSpecs() {
  static const auto* specs = new std::vector<ColumnFamilySpec>{
      {"active", /*queue=*/true}, {"finished"}, {"idempotency"}, {"participants"}};
  return *specs;
}

template <typename Msg>
absl::StatusOr<Msg> ParseRecord(const rocksdb::Slice& value, const std::string& what) {
  Msg msg;
  if (!msg.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(
        absl::StrCat("the log holds an unreadable ", what, "; it is damaged"));
  }
  return msg;
}

}  // namespace

struct TxnLog::Pending {
  LogBatch batch;
  bool sync;
  Done done;
};

struct TxnLog::Impl {
  std::unique_ptr<ReopenableDb> store;
  std::shared_ptr<const RecordCipher> cipher;  // Null: records are stored in clear.
  // Touched only by the writer thread: set after a failed write, so the next group first
  // brings the database back (writes work again once the disk does).
  bool needs_recovery = false;
  absl::Mutex observer_mu;
  StatsObserver observer ABSL_GUARDED_BY(observer_mu);
  std::unique_ptr<CommitQueue<Pending>> queue;  // Last: its thread uses the fields above.

  rocksdb::ColumnFamilyHandle* cf(int i) const ABSL_SHARED_LOCKS_REQUIRED(store->mu) {
    return store->cf(i);
  }
  // A transaction record as read back (opened, if sealed).
  absl::StatusOr<TxnRecord> Decode(const rocksdb::Slice& id, const rocksdb::Slice& value) const {
    return DecodeTxnRecord(cipher.get(), absl::string_view(id.data(), id.size()),
                           absl::string_view(value.data(), value.size()));
  }
  // kMeta lives in the default column family, beside the schema version.
  rocksdb::ColumnFamilyHandle* cf(LogBatch::Space s) const ABSL_SHARED_LOCKS_REQUIRED(store->mu) {
    return s == LogBatch::Space::kMeta ? store->db()->DefaultColumnFamily()
                                       : store->cf(static_cast<int>(s));
  }
};

absl::StatusOr<std::unique_ptr<TxnLog>> TxnLog::Open(const std::string& dir,
                                                     const Options& options) {
  auto store = ReopenableDb::Open(dir, CfSpecs(), kSchemaKey, kSchemaVersion, options);
  if (!store.ok()) return store.status();
  auto impl = std::make_unique<Impl>();
  impl->store = std::move(*store);
  impl->cipher = options.cipher;
  std::unique_ptr<TxnLog> log(new TxnLog(std::move(impl)));
  TxnLog* raw = log.get();
  log->impl_->queue = std::make_unique<CommitQueue<Pending>>(
      [raw](std::vector<Pending>& group) { raw->FlushGroup(group); });
  return log;
}

TxnLog::TxnLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TxnLog::~TxnLog() {
  // Close, not reset: the last groups' callbacks may write again, through this queue.
  impl_->queue->Close();
  impl_->queue.reset();
}

void TxnLog::SetStatsObserver(StatsObserver observer) {
  absl::MutexLock lock(&impl_->observer_mu);
  impl_->observer = std::move(observer);
}

void TxnLog::Write(LogBatch batch, bool sync, Done done) {
  impl_->queue->Push(Pending{std::move(batch), sync, std::move(done)});
}

absl::Status TxnLog::WriteAndWait(LogBatch batch, bool sync) {
  std::promise<absl::Status> result;
  Write(std::move(batch), sync, [&result](absl::Status s) { result.set_value(std::move(s)); });
  return result.get_future().get();
}

void TxnLog::FlushGroup(std::vector<Pending>& group) {
  const absl::Time start = absl::Now();
  bool sync = false;
  for (const Pending& p : group) sync |= p.sync;
  absl::Status status;
  if (impl_->needs_recovery) status = impl_->store->Reopen();
  if (status.ok()) {
    absl::ReaderMutexLock lock(&impl_->store->mu);
    status = impl_->store->CheckOpen();
    if (status.ok()) {
      rocksdb::WriteBatch wb;
      for (const Pending& p : group) {
        for (const LogBatch::Op& op : p.batch.ops()) {
          const bool txn = op.space == LogBatch::Space::kActive ||
                           op.space == LogBatch::Space::kFinished;
          if (op.value.has_value() && txn && impl_->cipher != nullptr) {
            wb.Put(impl_->cf(op.space), op.key, impl_->cipher->Seal(op.key, *op.value));
          } else if (op.value.has_value()) {
            wb.Put(impl_->cf(op.space), op.key, *op.value);
          } else {
            wb.Delete(impl_->cf(op.space), op.key);
          }
        }
      }
      rocksdb::WriteOptions wo;
      wo.sync = sync;
      status = FromRocksDb(impl_->store->db()->Write(wo, &wb), "the log cannot be written");
    }
  }
  impl_->needs_recovery = !status.ok();
  if (!status.ok() && status.code() != absl::StatusCode::kUnavailable) {
    // Whatever RocksDB said, the caller's choice is the same: nothing was persisted, retry.
    status = absl::UnavailableError(status.message());
  }
  {
    absl::MutexLock lock(&impl_->observer_mu);
    if (impl_->observer) impl_->observer({group.size(), sync, absl::Now() - start, status.ok()});
  }
  for (Pending& p : group) p.done(status);
}

absl::StatusOr<std::vector<TxnRecord>> TxnLog::LoadActive() const {
  absl::ReaderMutexLock lock(&impl_->store->mu);
  if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
  std::vector<TxnRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->store->db()->NewIterator(rocksdb::ReadOptions(), impl_->cf(kActiveCf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto rec = impl_->Decode(it->key(), it->value());
    if (!rec.ok()) return rec.status();
    out.push_back(std::move(*rec));
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "cannot read active transactions");
  return out;
}

absl::StatusOr<std::vector<ParticipantRecord>> TxnLog::LoadParticipants() const {
  absl::ReaderMutexLock lock(&impl_->store->mu);
  if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
  std::vector<ParticipantRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->store->db()->NewIterator(rocksdb::ReadOptions(), impl_->cf(kParticipantsCf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto rec = ParseRecord<ParticipantRecord>(it->value(), "participant record");
    if (!rec.ok()) return rec.status();
    out.push_back(std::move(*rec));
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "cannot read participants");
  return out;
}

absl::StatusOr<std::optional<TxnRecord>> TxnLog::FindFinished(const std::string& txn_id) const {
  absl::ReaderMutexLock lock(&impl_->store->mu);
  if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
  std::string value;
  rocksdb::Status s = impl_->store->db()->Get(rocksdb::ReadOptions(), impl_->cf(kFinishedCf), txn_id,
                                     &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocksDb(s, absl::StrCat("cannot read transaction ", txn_id));
  auto rec = impl_->Decode(txn_id, value);
  if (!rec.ok()) return rec.status();
  return std::optional<TxnRecord>(std::move(*rec));
}

absl::StatusOr<std::optional<TxnRecord>> TxnLog::Find(const std::string& txn_id) const {
  {
    absl::ReaderMutexLock lock(&impl_->store->mu);
    if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
    std::string value;
    rocksdb::Status s =
        impl_->store->db()->Get(rocksdb::ReadOptions(), impl_->cf(kActiveCf), txn_id, &value);
    if (s.ok()) {
      auto rec = impl_->Decode(txn_id, value);
      if (!rec.ok()) return rec.status();
      return std::optional<TxnRecord>(std::move(*rec));
    }
    if (!s.IsNotFound()) return FromRocksDb(s, absl::StrCat("cannot read transaction ", txn_id));
  }
  return FindFinished(txn_id);
}

absl::StatusOr<std::optional<std::string>> TxnLog::FindTxnIdByKey(const std::string& key) const {
  absl::ReaderMutexLock lock(&impl_->store->mu);
  if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
  std::string value;
  rocksdb::Status s = impl_->store->db()->Get(rocksdb::ReadOptions(), impl_->cf(kKeysCf), key, &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocksDb(s, "cannot read the idempotency index");
  return std::optional<std::string>(std::move(value));
}

absl::StatusOr<uint64_t> TxnLog::IdCeiling() const {
  absl::ReaderMutexLock lock(&impl_->store->mu);
  if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
  std::string value;
  rocksdb::Status s = impl_->store->db()->Get(
      rocksdb::ReadOptions(), impl_->cf(LogBatch::Space::kMeta), LogBatch::kIdCeilingKey, &value);
  if (s.IsNotFound()) return 0;
  if (!s.ok()) return FromRocksDb(s, "cannot read the reserved id ceiling");
  uint64_t ceiling = 0;
  if (!absl::SimpleAtoi(value, &ceiling)) {
    return absl::DataLossError(
        absl::StrCat("the log's reserved id ceiling '", value, "' is unreadable; it is damaged"));
  }
  return ceiling;
}

absl::StatusOr<std::string> TxnLog::ClaimedShard() const {
  absl::ReaderMutexLock lock(&impl_->store->mu);
  if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
  std::string value;
  rocksdb::Status s = impl_->store->db()->Get(
      rocksdb::ReadOptions(), impl_->cf(LogBatch::Space::kMeta), LogBatch::kShardKey, &value);
  if (s.IsNotFound()) return std::string();
  if (!s.ok()) return FromRocksDb(s, "cannot read the shard that claimed the log");
  return value;
}

absl::StatusOr<std::string> TxnLog::MaxTxnId() const {
  absl::ReaderMutexLock lock(&impl_->store->mu);
  if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
  std::string max;
  for (int cf : {kActiveCf, kFinishedCf}) {
    std::unique_ptr<rocksdb::Iterator> it(
        impl_->store->db()->NewIterator(rocksdb::ReadOptions(), impl_->cf(cf)));
    it->SeekToLast();
    if (it->Valid() && it->key().ToString() > max) max = it->key().ToString();
    if (!it->status().ok()) return FromRocksDb(it->status(), "cannot read transaction ids");
  }
  return max;
}

absl::StatusOr<std::string> TxnLog::Scan(
    const std::string& from_id, ScanSet set, int max_examined,
    const std::function<bool(const TxnRecord&)>& visit) const {
  absl::ReaderMutexLock lock(&impl_->store->mu);
  if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
  std::unique_ptr<rocksdb::Iterator> a(
      impl_->store->db()->NewIterator(rocksdb::ReadOptions(), impl_->cf(kActiveCf)));
  std::unique_ptr<rocksdb::Iterator> f(
      impl_->store->db()->NewIterator(rocksdb::ReadOptions(), impl_->cf(kFinishedCf)));
  a->Seek(from_id);
  // The active set alone never reads the finished history, however long it is.
  if (set == ScanSet::kActive) {
    f->SeekToLast();
    if (f->Valid()) f->Next();
  } else {
    f->Seek(from_id);
  }
  int examined = 0;
  while (a->Valid() || f->Valid()) {
    rocksdb::Iterator* next = !a->Valid()   ? f.get()
                              : !f->Valid() ? a.get()
                              : (a->key().compare(f->key()) <= 0 ? a.get() : f.get());
    auto rec = impl_->Decode(next->key(), next->value());
    if (!rec.ok()) return rec.status();
    const std::string id = next->key().ToString();
    next->Next();
    if (!visit(*rec) || ++examined == max_examined) return id;
  }
  for (auto* it : {a.get(), f.get()}) {
    if (!it->status().ok()) return FromRocksDb(it->status(), "cannot scan transactions");
  }
  return std::string();
}

absl::StatusOr<int> TxnLog::DeleteFinishedBefore(absl::Time cutoff, int max,
                                                 std::string* cursor) {
  const int64_t cutoff_micros = absl::ToUnixMicros(cutoff);
  LogBatch batch;
  int removed = 0;
  std::optional<std::string> first_kept;  // The oldest one examined that must stay.
  std::string stop;
  {
    absl::ReaderMutexLock lock(&impl_->store->mu);
    if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
    std::unique_ptr<rocksdb::Iterator> it(
        impl_->store->db()->NewIterator(rocksdb::ReadOptions(), impl_->cf(kFinishedCf)));
    for (it->Seek(*cursor); it->Valid() && removed < max; it->Next()) {
      stop = it->key().ToString();
      auto rec = impl_->Decode(it->key(), it->value());
      if (!rec.ok()) return rec.status();
      // Ids grow with begin time, and a transaction finishes after it begins: once one began
      // after the cutoff, every later one finished after it too.
      if (rec->begin_micros() >= cutoff_micros) break;
      if (rec->finish_micros() >= cutoff_micros) {
        if (!first_kept) first_kept = stop;
        continue;
      }
      batch.RemoveFinished(*rec);
      ++removed;
    }
    if (!it->status().ok()) return FromRocksDb(it->status(), "cannot scan finished transactions");
    if (it->Valid() && removed == max) stop = it->key().ToString();
  }
  if (removed > 0) {
    if (absl::Status s = WriteAndWait(std::move(batch), /*sync=*/false); !s.ok()) return s;
  }
  *cursor = first_kept.value_or(stop);
  return removed;
}

absl::StatusOr<std::vector<std::pair<std::string, AuditRecord>>> TxnLog::ListAudit(
    const std::string& after_key, int max, bool newest_first) const {
  absl::ReaderMutexLock lock(&impl_->store->mu);
  if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
  std::vector<std::pair<std::string, AuditRecord>> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->store->db()->NewIterator(
      rocksdb::ReadOptions(), impl_->cf(LogBatch::Space::kMeta)));
  const std::string prefix = LogBatch::kAuditPrefix;
  if (newest_first) {
    // The prefix with its last byte raised sorts after every audit key.
    std::string past_the_end = prefix;
    ++past_the_end.back();
    it->SeekForPrev(after_key.empty() ? past_the_end : after_key);
  } else {
    it->Seek(after_key.empty() ? prefix : after_key);
  }
  if (it->Valid() && it->key() == after_key) newest_first ? it->Prev() : it->Next();
  for (; it->Valid() && it->key().starts_with(prefix) && static_cast<int>(out.size()) < max;
       newest_first ? it->Prev() : it->Next()) {
    auto rec = ParseRecord<AuditRecord>(it->value(), "audit record");
    if (!rec.ok()) return rec.status();
    out.emplace_back(it->key().ToString(), *std::move(rec));
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "cannot read the audit trail");
  return out;
}

absl::Status TxnLog::Compact() {
  absl::ReaderMutexLock lock(&impl_->store->mu);
  if (absl::Status s = impl_->store->CheckOpen(); !s.ok()) return s;
  for (int i = 0; i < static_cast<int>(impl_->store->cfs().size()); ++i) {
    rocksdb::CompactRangeOptions options;
    // The active set is a queue: every finished transaction leaves a tombstone there, and a
    // scan from its start walks every one left. They go only when the bottommost files are
    // compacted too, which RocksDB skips by default.
    if (i == kActiveCf) {
      options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    }
    rocksdb::Status s = impl_->store->db()->CompactRange(options, impl_->cf(i), nullptr, nullptr);
    if (!s.ok()) return FromRocksDb(s, "cannot compact the log");
  }
  return absl::OkStatus();
}

}  // namespace settle::storage
