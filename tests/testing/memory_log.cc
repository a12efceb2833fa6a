#include "tests/testing/memory_log.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"

namespace settle::testing {

using storage::LogBatch;
using storage::TxnRecord;
using Space = LogBatch::Space;

namespace {

absl::StatusOr<TxnRecord> Parse(const std::string& value) {
  TxnRecord rec;
  if (!rec.ParseFromString(value)) return absl::DataLossError("unreadable transaction record");
  return rec;
}

}  // namespace

void MemoryLog::Write(LogBatch batch, bool sync, Done done) {
  absl::MutexLock lock(&mu_);
  queue_.push_back({std::move(batch), sync, std::move(done)});
}

absl::Status MemoryLog::WriteAndWait(LogBatch batch, bool sync) {
  absl::MutexLock lock(&mu_);
  if (writes_fail_) return absl::UnavailableError("injected write failure (disk full)");
  ApplyLocked({std::move(batch), sync, nullptr});
  return absl::OkStatus();
}

void MemoryLog::ApplyLocked(const Pending& p) {
  for (const LogBatch::Op& op : p.batch.ops()) {
    auto& space = current_[op.space];
    if (op.value.has_value()) {
      space[op.key] = *op.value;
    } else {
      space.erase(op.key);
    }
  }
  if (p.sync) durable_ = current_;
}

size_t MemoryLog::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

std::optional<MemoryLog::Queued> MemoryLog::PeekQueued() const {
  absl::MutexLock lock(&mu_);
  if (queue_.empty()) return std::nullopt;
  Queued q{queue_.front().sync, std::nullopt, false};
  for (const LogBatch::Op& op : queue_.front().batch.ops()) {
    if ((op.space == Space::kActive || op.space == Space::kFinished) && op.value.has_value()) {
      if (auto rec = Parse(*op.value); rec.ok()) q.txn = *std::move(rec);
      q.finishes = op.space == Space::kFinished;
    }
  }
  return q;
}

bool MemoryLog::CompleteOne() {
  Done done;
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (queue_.empty()) return false;
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    if (fail_next_ > 0 || writes_fail_) {
      if (fail_next_ > 0) --fail_next_;
      status = absl::UnavailableError("injected write failure (disk full)");
    } else {
      ApplyLocked(p);
    }
    done = std::move(p.done);
  }
  if (done) done(status);
  return true;
}

bool MemoryLog::ApplyOneSilently() {
  absl::MutexLock lock(&mu_);
  if (queue_.empty()) return false;
  ApplyLocked(queue_.front());
  queue_.pop_front();
  return true;
}

void MemoryLog::Crash(bool power_cut) {
  std::deque<Pending> dropped;  // Destroyed outside the lock: callbacks hold references.
  absl::MutexLock lock(&mu_);
  dropped.swap(queue_);
  if (power_cut) current_ = durable_;
}

void MemoryLog::SetWritesFail(bool fail) {
  absl::MutexLock lock(&mu_);
  writes_fail_ = fail;
}

void MemoryLog::FailNextWrites(int n) {
  absl::MutexLock lock(&mu_);
  fail_next_ = n;
}

absl::StatusOr<std::optional<TxnRecord>> MemoryLog::GetLocked(Space space,
                                                              const std::string& id) const {
  auto s = current_.find(space);
  if (s == current_.end()) return std::nullopt;
  auto it = s->second.find(id);
  if (it == s->second.end()) return std::nullopt;
  auto rec = Parse(it->second);
  if (!rec.ok()) return rec.status();
  return std::optional<TxnRecord>(*std::move(rec));
}

absl::StatusOr<std::vector<TxnRecord>> MemoryLog::LoadActive() const {
  absl::MutexLock lock(&mu_);
  std::vector<TxnRecord> out;
  auto s = current_.find(Space::kActive);
  if (s == current_.end()) return out;
  for (const auto& [id, value] : s->second) {
    auto rec = Parse(value);
    if (!rec.ok()) return rec.status();
    out.push_back(*std::move(rec));
  }
  return out;
}

absl::StatusOr<std::vector<storage::ParticipantRecord>> MemoryLog::LoadParticipants() const {
  absl::MutexLock lock(&mu_);
  std::vector<storage::ParticipantRecord> out;
  auto s = current_.find(Space::kParticipants);
  if (s == current_.end()) return out;
  for (const auto& [name, value] : s->second) {
    storage::ParticipantRecord rec;
    if (!rec.ParseFromString(value)) return absl::DataLossError("unreadable participant");
    out.push_back(std::move(rec));
  }
  return out;
}

absl::StatusOr<std::optional<TxnRecord>> MemoryLog::Find(const std::string& txn_id) const {
  absl::MutexLock lock(&mu_);
  auto active = GetLocked(Space::kActive, txn_id);
  if (!active.ok() || active->has_value()) return active;
  return GetLocked(Space::kFinished, txn_id);
}

absl::StatusOr<std::optional<TxnRecord>> MemoryLog::FindFinished(
    const std::string& txn_id) const {
  absl::MutexLock lock(&mu_);
  return GetLocked(Space::kFinished, txn_id);
}

absl::StatusOr<std::optional<std::string>> MemoryLog::FindTxnIdByKey(
    const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto s = current_.find(Space::kKeys);
  if (s == current_.end()) return std::nullopt;
  auto it = s->second.find(key);
  if (it == s->second.end()) return std::nullopt;
  return std::optional<std::string>(it->second);
}

absl::StatusOr<std::string> MemoryLog::MaxTxnId() const {
  absl::MutexLock lock(&mu_);
  std::string max;
  for (Space space : {Space::kActive, Space::kFinished}) {
    auto s = current_.find(space);
    if (s != current_.end() && !s->second.empty() && s->second.rbegin()->first > max) {
      max = s->second.rbegin()->first;
    }
  }
  return max;
}

absl::StatusOr<uint64_t> MemoryLog::IdCeiling() const {
  absl::MutexLock lock(&mu_);
  auto s = current_.find(Space::kMeta);
  if (s == current_.end()) return 0;
  auto it = s->second.find(LogBatch::kIdCeilingKey);
  uint64_t ceiling = 0;
  if (it != s->second.end() && !absl::SimpleAtoi(it->second, &ceiling)) {
    return absl::DataLossError("unreadable id ceiling");
  }
  return ceiling;
}

absl::StatusOr<std::string> MemoryLog::ClaimedShard() const {
  absl::MutexLock lock(&mu_);
  auto s = current_.find(Space::kMeta);
  if (s == current_.end()) return std::string();
  auto it = s->second.find(LogBatch::kShardKey);
  return it == s->second.end() ? std::string() : it->second;
}

absl::StatusOr<std::vector<std::pair<std::string, storage::AuditRecord>>> MemoryLog::ListAudit(
    const std::string& after_key, int max, bool newest_first) const {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<std::string, storage::AuditRecord>> out;
  auto s = current_.find(Space::kMeta);
  if (s == current_.end()) return out;
  // Every audit entry in the listing's order, then those after `after_key`.
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& [key, value] : s->second) {
    if (key.rfind(LogBatch::kAuditPrefix, 0) == 0) entries.emplace_back(key, value);
  }
  if (newest_first) std::reverse(entries.begin(), entries.end());
  for (const auto& [key, value] : entries) {
    if (static_cast<int>(out.size()) == max) break;
    if (!after_key.empty() && (newest_first ? key >= after_key : key <= after_key)) continue;
    storage::AuditRecord rec;
    if (!rec.ParseFromString(value)) return absl::DataLossError("unreadable audit record");
    out.emplace_back(key, std::move(rec));
  }
  return out;
}

absl::StatusOr<std::string> MemoryLog::Scan(
    const std::string& from_id, storage::ScanSet set, int max_examined,
    const std::function<bool(const TxnRecord&)>& visit) const {
  std::map<std::string, std::string> merged;
  {
    absl::MutexLock lock(&mu_);
    for (Space space : {Space::kActive, Space::kFinished}) {
      if (space == Space::kFinished && set == storage::ScanSet::kActive) continue;
      auto s = current_.find(space);
      if (s == current_.end()) continue;
      merged.insert(s->second.lower_bound(from_id), s->second.end());
    }
  }
  int examined = 0;
  for (const auto& [id, value] : merged) {
    auto rec = Parse(value);
    if (!rec.ok()) return rec.status();
    if (!visit(*rec) || ++examined == max_examined) return id;
  }
  return std::string();
}

absl::StatusOr<int> MemoryLog::DeleteFinishedBefore(absl::Time cutoff, int max,
                                                    std::string* cursor) {
  LogBatch batch;
  int removed = 0;
  {
    absl::MutexLock lock(&mu_);
    auto& finished = current_[Space::kFinished];
    for (auto it = finished.lower_bound(*cursor); it != finished.end() && removed < max; ++it) {
      auto rec = Parse(it->second);
      if (!rec.ok()) return rec.status();
      if (rec->finish_micros() >= absl::ToUnixMicros(cutoff)) continue;
      batch.RemoveFinished(*rec);
      ++removed;
    }
    ApplyLocked({std::move(batch), false, nullptr});
  }
  return removed;
}

}  // namespace settle::testing
