#ifndef SETTLE_STORAGE_POSTGRES_PG_SCHEMA_H_
#define SETTLE_STORAGE_POSTGRES_PG_SCHEMA_H_

// Internal to the PostgreSQL store: the tables the SDK keeps in the service's database, one
// schema for every SDK (C++, Python, TypeScript). README.md, "Participants on PostgreSQL", shows
// the DDL below; change both together and raise kSchemaVersion.

#include "absl/status/status.h"
#include "storage/postgres/pg_conn.h"

namespace settle::storage::pg {

inline constexpr int kSchemaVersion = 1;

// The barrier: one row per branch, in the same SQL transaction as the business change.
//   state: prepared | precommitted | committed | aborted | compensating (a saga's action in
//   progress is 'prepared', done is 'committed'); tombstone: aborted before any Prepare (or
//   compensated before any Act) arrived; payload: kept while prepared; times in Unix
//   microseconds; decide_by_micros and peers: three-phase branches' timer and peers
//   ("<branch_id>=<host:port>" separated by spaces).
// settle_kv: the SDK's indexes (space 2: "p/<txn>/<branch>" prepared two-phase branches, for
//   the in-doubt resolver; "t/..." three-phase timers) and, for services that keep no tables of
//   their own, their key-value state (space 0).
inline constexpr char kSchemaDdl[] = R"sql(
CREATE TABLE settle_schema (
  component text PRIMARY KEY,
  version   integer NOT NULL
);
CREATE TABLE settle_barrier (
  txn_id           text COLLATE "C" NOT NULL,
  branch_id        integer NOT NULL CHECK (branch_id >= 0),
  state            text NOT NULL
                   CHECK (state IN ('prepared', 'precommitted', 'committed', 'aborted',
                                    'compensating')),
  tombstone        boolean NOT NULL DEFAULT false,
  payload          bytea,
  prepared_micros  bigint,
  updated_micros   bigint NOT NULL,
  decide_by_micros bigint,
  peers            text,
  PRIMARY KEY (txn_id, branch_id)
);
CREATE INDEX settle_barrier_finished ON settle_barrier (updated_micros)
  WHERE state IN ('committed', 'aborted');
CREATE TABLE settle_kv (
  space smallint NOT NULL,
  key   bytea NOT NULL,
  value bytea NOT NULL,
  PRIMARY KEY (space, key)
);
INSERT INTO settle_schema VALUES ('settle_barrier', 1);
)sql";

// Creates the tables in one SQL transaction, or checks the ones there: FAILED_PRECONDITION for a
// schema written by a newer Settle or a settle_barrier that is not ours (nothing is created);
// UNAVAILABLE when the database cannot be used.
absl::Status EnsureSchema(Conn& conn);

}  // namespace settle::storage::pg

#endif  // SETTLE_STORAGE_POSTGRES_PG_SCHEMA_H_
