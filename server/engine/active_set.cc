#include "server/engine/active_set.h"

namespace settle::engine {

ActiveSet::AddResult ActiveSet::Add(const TxnPtr& txn, int max_deciding, TxnPtr* existing) {
  absl::MutexLock lock(&mu_);
  if (auto it = by_key_.find(txn->key()); it != by_key_.end()) {
    *existing = it->second;
    return AddResult::kKeyInUse;
  }
  // Only transactions still deciding count: they hold a caller and participants' reservations.
  // Decided ones waiting for a participant that is down do not, so they never make the
  // coordinator refuse payments that do not need it.
  if (deciding_ >= max_deciding) return AddResult::kFull;
  by_id_[txn->id()] = txn;
  by_key_[txn->key()] = txn;
  ++deciding_;
  return AddResult::kAdded;
}

void ActiveSet::Decided() {
  absl::MutexLock lock(&mu_);
  --deciding_;
}

void ActiveSet::Remove(const TxnPtr& txn) {
  absl::MutexLock lock(&mu_);
  by_id_.erase(txn->id());
  auto it = by_key_.find(txn->key());
  if (it != by_key_.end() && it->second == txn) by_key_.erase(it);
}

TxnPtr ActiveSet::Find(const std::string& txn_id) const {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(txn_id);
  return it == by_id_.end() ? nullptr : it->second;
}

TxnPtr ActiveSet::FindByKey(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : it->second;
}

std::vector<TxnPtr> ActiveSet::All() const {
  absl::MutexLock lock(&mu_);
  std::vector<TxnPtr> out;
  out.reserve(by_id_.size());
  for (const auto& [id, txn] : by_id_) out.push_back(txn);
  return out;
}

size_t ActiveSet::size() const {
  absl::MutexLock lock(&mu_);
  return by_id_.size();
}

int ActiveSet::deciding() const {
  absl::MutexLock lock(&mu_);
  return deciding_;
}

int ActiveSet::CountUsing(const std::string& participant) const {
  absl::MutexLock lock(&mu_);
  int users = 0;
  for (const auto& [id, txn] : by_id_) {
    for (size_t b = 0; b < txn->branch_count(); ++b) {
      if (txn->participant(static_cast<uint32_t>(b)) == participant) {
        ++users;
        break;
      }
    }
  }
  return users;
}

}  // namespace settle::engine
