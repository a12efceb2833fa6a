#ifndef SETTLE_STORAGE_SQL_TXN_H_
#define SETTLE_STORAGE_SQL_TXN_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace settle::storage {

// What one SQL statement returned: its rows as text (SQL NULL is nullopt) and, for INSERT,
// UPDATE and DELETE, how many rows it touched.
struct SqlResult {
  std::vector<std::vector<std::optional<std::string>>> rows;
  int affected = 0;
};

// The SQL transaction one unit of work runs in, on a store kept in a SQL database
// (storage/postgres/). A handler writes its business change through it; the SDK's barrier rows
// go into the same transaction, so they commit or vanish together. Only valid during the unit,
// on the thread that runs it. Not thread-safe.
class SqlTxn {
 public:
  virtual ~SqlTxn() = default;
  // Runs one statement with parameters $1..$n as text (nullopt is NULL). Any error fails the
  // whole unit (the store rolls it back; a serialization failure or deadlock reruns it), so a
  // handler only returns it: UNAVAILABLE when the database cannot be reached, INVALID_ARGUMENT
  // for a statement the database refused.
  virtual absl::StatusOr<SqlResult> Exec(const std::string& sql,
                                         const std::vector<std::optional<std::string>>& params) = 0;
};

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_SQL_TXN_H_
