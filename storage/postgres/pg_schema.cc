#include "storage/postgres/pg_schema.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace settle::storage::pg {
namespace {

// Two processes starting on one new database both find no table: this lock (held until the
// transaction ends) lets one create while the other waits and then checks.
constexpr char kLock[] = "SELECT pg_advisory_xact_lock(7366271011)";  // "settle" on a keypad

absl::Status Check(Conn& conn) {
  auto has = conn.Exec(
      "SELECT to_regclass('settle_schema') IS NOT NULL, to_regclass('settle_barrier') IS NOT NULL");
  if (!has.ok()) return has.status();
  const bool schema = has->rows[0][0] == "t", barrier = has->rows[0][1] == "t";
  if (!schema && !barrier) return absl::NotFoundError("no schema yet");
  if (!schema) {
    return absl::FailedPreconditionError(
        "a table settle_barrier exists without settle_schema: it is not Settle's; use another "
        "database or schema (search_path in --store)");
  }
  auto version = conn.Exec("SELECT version FROM settle_schema WHERE component = 'settle_barrier'");
  if (!version.ok()) return version.status();
  int v = 0;
  if (version->rows.empty() || !version->rows[0][0].has_value() ||
      !absl::SimpleAtoi(*version->rows[0][0], &v)) {
    return absl::FailedPreconditionError(
        "settle_schema names no version of settle_barrier: the schema is damaged");
  }
  if (v > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("the barrier tables have schema version ", v,
                                                      ", written by a newer Settle; this build "
                                                      "knows version ",
                                                      kSchemaVersion, " and will not write them"));
  }
  if (v < kSchemaVersion || !barrier) {
    return absl::FailedPreconditionError(
        absl::StrCat("the barrier tables have schema version ", v, " but settle_barrier ",
                     barrier ? "is older" : "is missing", ": the schema is damaged"));
  }
  // Every column the store reads and writes, so a foreign table fails here and not mid-payment.
  auto columns = conn.Exec(
      "SELECT txn_id, branch_id, state, tombstone, payload, prepared_micros, updated_micros, "
      "decide_by_micros, peers FROM settle_barrier LIMIT 0");
  if (!columns.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("settle_barrier lacks a column of schema version ", kSchemaVersion, ": ",
                     columns.status().message()));
  }
  auto kv = conn.Exec("SELECT space, key, value FROM settle_kv LIMIT 0");
  if (!kv.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("settle_kv is missing or not Settle's: ", kv.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EnsureSchema(Conn& conn) {
  auto begin = conn.Exec("BEGIN");
  if (!begin.ok()) return begin.status();
  absl::Status s = conn.Exec(kLock).status();
  if (s.ok()) s = Check(conn);
  if (absl::IsNotFound(s)) s = conn.Exec(kSchemaDdl).status();
  // DDL is transactional in PostgreSQL: a failure anywhere leaves no table behind.
  if (!s.ok()) {
    conn.Exec("ROLLBACK").IgnoreError();
    return s;
  }
  return conn.Exec("COMMIT").status();
}

}  // namespace settle::storage::pg
