#ifndef SETTLE_STORAGE_POSTGRES_PG_BRANCH_STORE_H_
#define SETTLE_STORAGE_POSTGRES_PG_BRANCH_STORE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/branch_store.h"

namespace settle::storage {

struct PgStoreOptions {
  // A libpq connection string or postgres:// URI: host, port, dbname, user, password or
  // passfile, sslmode (require / verify-full for TLS), options=-csearch_path=... for a schema.
  std::string dsn;
  // Connections that run units of work, each on a thread of its own; one more serves Get and
  // Scan. Bounds what the participant asks of the database.
  int pool_size = 8;
  // Runs of one unit before it fails UNAVAILABLE, when the database rolls it back for a
  // serialization failure, a deadlock or a barrier row another unit inserted first.
  int max_attempts = 5;
  // A unit waiting longer than this for a row lock fails UNAVAILABLE (the caller retries).
  absl::Duration lock_timeout = absl::Seconds(5);
  // TEST ONLY, off when empty: runs after a unit that wrote a barrier row has run its statements,
  // before its COMMIT (a fault test kills the process there).
  std::function<void()> before_commit_ForTest;
};

// A participant's store in the service's own PostgreSQL database: each unit of work is one SQL
// transaction (READ COMMITTED) holding the handler's business statements (WorkView::sql()) and
// the SDK's barrier rows, so a crash anywhere leaves both or neither. Barrier rows are inserted
// with INSERT ... ON CONFLICT DO NOTHING, and the count of inserted rows decides: a unit that
// finds its row taken by a concurrent one is rolled back and run again, and then sees that row.
// Every record a unit reads is locked (SELECT ... FOR UPDATE) until it ends. Durability is the
// database's (synchronous_commit, fsync); a power cut of PostgreSQL is its own business.
//
// Opening creates or checks the tables (pg_schema.h). INVALID_ARGUMENT: the DSN does not parse
// or the options are out of range; PERMISSION_DENIED: the server refuses the login;
// UNAVAILABLE: no server answers; FAILED_PRECONDITION: tables of a newer schema or not Settle's.
// Thread-safe.
absl::StatusOr<std::unique_ptr<BranchStore>> OpenPgBranchStore(const PgStoreOptions& options);

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_POSTGRES_PG_BRANCH_STORE_H_
