#include "storage/decision_log.h"

#include "absl/strings/str_cat.h"

namespace settle::storage {

void LogBatch::Begin(const TxnRecord& rec) {
  ops_.push_back({Space::kActive, rec.txn_id(), rec.SerializeAsString()});
  ops_.push_back({Space::kKeys, rec.idempotency_key(), rec.txn_id()});
}
void LogBatch::UpdateActive(const TxnRecord& rec) {
  ops_.push_back({Space::kActive, rec.txn_id(), rec.SerializeAsString()});
}
void LogBatch::Decide(const TxnRecord& rec) {
  UpdateActive(rec);
  ops_.push_back({Space::kKeys, rec.idempotency_key(), rec.txn_id()});
}
void LogBatch::Finish(const TxnRecord& rec) {
  ops_.push_back({Space::kActive, rec.txn_id(), std::nullopt});
  ops_.push_back({Space::kFinished, rec.txn_id(), rec.SerializeAsString()});
}
void LogBatch::Forget(const TxnRecord& rec) {
  ops_.push_back({Space::kActive, rec.txn_id(), std::nullopt});
  ops_.push_back({Space::kKeys, rec.idempotency_key(), std::nullopt});
}
void LogBatch::PutParticipant(const ParticipantRecord& rec) {
  ops_.push_back({Space::kParticipants, rec.name(), rec.SerializeAsString()});
}
void LogBatch::DeleteParticipant(const std::string& name) {
  ops_.push_back({Space::kParticipants, name, std::nullopt});
}
void LogBatch::ReserveIds(uint64_t ceiling) {
  ops_.push_back({Space::kMeta, kIdCeilingKey, absl::StrCat(ceiling)});
}
void LogBatch::ClaimShard(const std::string& shard) {
  ops_.push_back({Space::kMeta, kShardKey, shard});
}
void LogBatch::RemoveFinished(const TxnRecord& rec) {
  ops_.push_back({Space::kFinished, rec.txn_id(), std::nullopt});
  ops_.push_back({Space::kKeys, rec.idempotency_key(), std::nullopt});
}
void LogBatch::PutAudit(const std::string& key, const AuditRecord& rec) {
  ops_.push_back({Space::kMeta, key, rec.SerializeAsString()});
}
std::string LogBatch::AuditKey(int64_t micros, uint64_t sequence) {
  return absl::StrCat(kAuditPrefix, absl::Dec(micros, absl::kZeroPad20), "-",
                      absl::Dec(sequence, absl::kZeroPad20));
}
const char LogBatch::kAuditPrefix[] = "audit/";
// In the default column family, beside the schema version: the id counter reserved so far.
const char LogBatch::kIdCeilingKey[] = "id_ceiling";
const char LogBatch::kShardKey[] = "shard";

}  // namespace settle::storage
