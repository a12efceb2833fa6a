#ifndef SETTLE_STORAGE_POSTGRES_PG_VIEW_H_
#define SETTLE_STORAGE_POSTGRES_PG_VIEW_H_

// Internal to the PostgreSQL store: one unit of work's view, inside its SQL transaction, and the
// barrier row's columns as the SDK's BarrierRecord.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "storage/branch_store.h"
#include "storage/postgres/pg_conn.h"

namespace settle::storage::pg {

// The columns of settle_barrier after txn_id and branch_id, in this order.
inline constexpr char kBarrierColumns[] =
    "state, tombstone, payload, prepared_micros, updated_micros, decide_by_micros, peers";
inline constexpr int kBarrierPayloadColumn = 2;  // Of kBarrierColumns: bytea.

// A settle_barrier row (the columns above, from `first`) as a serialized BarrierRecord;
// DATA_LOSS naming the key when a column holds what no SDK writes.
absl::StatusOr<std::string> RecordFromRow(const std::vector<std::optional<std::string>>& row,
                                          size_t first, const std::string& key);
// "<txn_id>/<branch_id, 5 digits>" (the SDK's barrier key) into its parts; false if not one.
bool SplitBarrierKey(const std::string& key, std::string* txn_id, std::string* branch_id);

// The unit's statements on one connection, between the store's BEGIN and COMMIT. Records the
// first failure; every statement after it is skipped (PostgreSQL would refuse it anyway) and the
// store rolls the unit back. Not thread-safe.
class PgView final : public WorkView, public SqlTxn {
 public:
  explicit PgView(Conn& conn) : conn_(conn) {}

  absl::StatusOr<std::optional<std::string>> Get(Space space, const std::string& key) override;
  void Put(Space space, const std::string& key, const std::string& value) override;
  void Delete(Space space, const std::string& key) override;
  SqlTxn* sql() override { return this; }
  absl::StatusOr<SqlResult> Exec(const std::string& sql,
                                 const std::vector<std::optional<std::string>>& params) override;

  // OK, or why the unit must be rolled back (ABORTED: run it again).
  const absl::Status& failure() const { return failure_; }
  // Whether the unit wrote a barrier row.
  bool wrote_barrier() const { return wrote_barrier_; }

 private:
  absl::StatusOr<SqlResult> Run(const std::string& sql, const std::vector<Param>& params,
                                const std::vector<int>& bytea_columns = {});
  void Fail(absl::Status s) {
    if (failure_.ok()) failure_ = std::move(s);
  }
  // Whether a row exists for a key this unit has read or written; absent: not known.
  std::optional<bool> Known(Space space, const std::string& key) const;

  Conn& conn_;
  absl::Status failure_;
  bool wrote_barrier_ = false;
  std::map<std::pair<Space, std::string>, bool> exists_;
};

}  // namespace settle::storage::pg

#endif  // SETTLE_STORAGE_POSTGRES_PG_VIEW_H_
