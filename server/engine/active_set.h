#ifndef SETTLE_SERVER_ENGINE_ACTIVE_SET_H_
#define SETTLE_SERVER_ENGINE_ACTIVE_SET_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/engine/transaction.h"

namespace settle::engine {

using TxnPtr = std::shared_ptr<Transaction>;

// The transactions in memory, by id and by idempotency key, and how many of them are still
// being decided (what --max_in_flight bounds). A transaction stays here from Execute (or
// recovery) until its finish record is written.
//
// Thread-safe. Lock order: this set's lock, then a transaction's.
class ActiveSet final {
 public:
  enum class AddResult { kAdded, kKeyInUse, kFull };
  // Adds `txn` unless its key is active (kKeyInUse: `*existing` is the holder) or
  // `max_deciding` transactions are still being decided (kFull). Counts it as deciding.
  AddResult Add(const TxnPtr& txn, int max_deciding, TxnPtr* existing) ABSL_LOCKS_EXCLUDED(mu_);
  // One whose decision is durable no longer counts against max_deciding. Once per transaction.
  void Decided() ABSL_LOCKS_EXCLUDED(mu_);
  void Remove(const TxnPtr& txn) ABSL_LOCKS_EXCLUDED(mu_);

  TxnPtr Find(const std::string& txn_id) const ABSL_LOCKS_EXCLUDED(mu_);
  TxnPtr FindByKey(const std::string& key) const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<TxnPtr> All() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  int deciding() const ABSL_LOCKS_EXCLUDED(mu_);
  // Active transactions with a branch at `participant`.
  int CountUsing(const std::string& participant) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, TxnPtr> by_id_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, TxnPtr> by_key_ ABSL_GUARDED_BY(mu_);
  int deciding_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_ACTIVE_SET_H_
