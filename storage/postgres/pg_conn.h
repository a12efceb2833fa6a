#ifndef SETTLE_STORAGE_POSTGRES_PG_CONN_H_
#define SETTLE_STORAGE_POSTGRES_PG_CONN_H_

// Internal to the PostgreSQL store: one libpq connection and the one place libpq's errors become
// absl::Status. libpq lives only in this folder (STYLE.md 11).

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/sql_txn.h"

struct pg_conn;

namespace settle::storage::pg {

// A statement parameter: text, or bytes sent in binary (bytea), or NULL.
struct Param {
  std::optional<std::string> value;
  bool binary = false;
  static Param Text(std::string v) { return {std::move(v), false}; }
  static Param Bytes(std::string v) { return {std::move(v), true}; }
  static Param Null() { return {std::nullopt, false}; }
};

// Whether a failed statement's transaction may succeed when run again from its start: a
// serialization failure or a deadlock the database broke (SQLSTATE 40001, 40P01). Such errors
// come back as ABORTED; every other failure as UNAVAILABLE (the connection or the server) or
// INTERNAL (a statement the database refused), naming the SQLSTATE.
inline bool Retryable(const absl::Status& s) { return s.code() == absl::StatusCode::kAborted; }

// One connection. Not thread-safe: one thread uses it at a time.
class Conn final {
 public:
  // INVALID_ARGUMENT: `dsn` does not parse. PERMISSION_DENIED: the server answers but refuses the
  // login or the database. UNAVAILABLE: no server answers.
  static absl::StatusOr<std::unique_ptr<Conn>> Open(const std::string& dsn);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Runs one statement; bytea columns come back as their bytes when listed in `bytea_columns`.
  absl::StatusOr<SqlResult> Exec(const std::string& sql, const std::vector<Param>& params = {},
                                 const std::vector<int>& bytea_columns = {});
  // False once the connection broke; the owner opens a new one.
  bool ok() const;
  // Inside a transaction that a failed statement ended: its COMMIT would only roll it back.
  bool InFailedTransaction() const;

 private:
  explicit Conn(pg_conn* conn) : conn_(conn) {}
  // The name of the server-side prepared statement for `sql`, preparing it on first use: the
  // barrier's few statements run thousands of times, and parsing and planning each time cost
  // the server more than running them. Empty when the cache is full (a handler that builds its
  // SQL text per call): then the statement runs unprepared.
  absl::StatusOr<std::string> Prepared(const std::string& sql, int params);

  pg_conn* conn_;
  std::map<std::string, std::string> prepared_;
};

// INVALID_ARGUMENT naming the flag when `dsn` is not a libpq connection string or URI.
absl::Status CheckDsn(const std::string& dsn);

}  // namespace settle::storage::pg

#endif  // SETTLE_STORAGE_POSTGRES_PG_CONN_H_
