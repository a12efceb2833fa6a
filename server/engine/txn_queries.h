#ifndef SETTLE_SERVER_ENGINE_TXN_QUERIES_H_
#define SETTLE_SERVER_ENGINE_TXN_QUERIES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/engine/active_set.h"
#include "server/engine/clock.h"
#include "server/engine/protocol.h"
#include "server/engine/transaction.h"
#include "storage/decision_log.h"

namespace settle::engine {

struct ListParams {
  std::vector<storage::TxnStateRecord> states;  // Empty: any.
  absl::Time begin_after = absl::InfinitePast();
  absl::Time begin_before = absl::InfiniteFuture();
  std::string participant;
  std::optional<storage::ModeRecord> mode;  // Unset: any.
  bool stuck_only = false;
  int page_size = 100;
  std::string page_token;
};

struct ListResult {
  std::vector<TxnSnapshot> transactions;
  std::string next_page_token;
};

// Read-only questions about transactions: the active set answers first (fresher), the log for
// the rest. Thread-safe; everything passed in must outlive it.
class TxnQueries final {
 public:
  TxnQueries(std::string shard, absl::Duration stuck_after, const storage::DecisionLog& log,
             const ActiveSet& active, const Clock& clock);

  // NOT_FOUND if unknown or past retention.
  absl::StatusOr<TxnSnapshot> Get(const std::string& txn_id) const;
  absl::StatusOr<TxnSnapshot> GetByKey(const std::string& key) const;
  // INVALID_ARGUMENT for a bad page size or token.
  absl::StatusOr<ListResult> List(const ListParams& params) const;
  // Presumed abort: an unknown transaction is kAbort. UNAVAILABLE if the log cannot be read.
  absl::StatusOr<Decision> GetDecision(const std::string& txn_id) const;

 private:
  const std::string shard_;
  const absl::Duration stuck_after_;
  const storage::DecisionLog& log_;
  const ActiveSet& active_;
  const Clock& clock_;
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_TXN_QUERIES_H_
