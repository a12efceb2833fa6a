// The barrier in the service's own PostgreSQL database: the tables and rules every Settle SDK
// shares (README.md, "Participants on PostgreSQL"; the C++ store is storage/postgres/, the
// Python one sdk/python/settle/_store.py).
//
// Each call is one SQL transaction, READ COMMITTED: the SDK opens it, reads and locks the
// branch's barrier row, runs the handler's statements inside a savepoint (a refusal rolls them
// back and keeps the barrier row), writes the barrier row, and commits. A barrier row is
// inserted with INSERT ... ON CONFLICT DO NOTHING and the count of inserted rows decides: a call
// that loses the race to a concurrent duplicate is rolled back and run again, and then sees the
// row. So is a serialization failure or a deadlock, at most `maxAttempts` times. A lost
// connection or a lock wait past the lock timeout answers UNAVAILABLE: the coordinator retries
// and the barrier gives one effect.

import * as fs from "node:fs";
import * as path from "node:path";

import { status } from "@grpc/grpc-js";
import { Pool, PoolClient } from "pg";

import { StatusError } from "./edge";
import { Refuse } from "./handler";

export const SCHEMA_VERSION = 1;
/** sdk/barrier_schema.sql, copied beside the package by the build: the C++ store's DDL. */
export const SCHEMA_DDL = fs.readFileSync(path.join(__dirname, "../../barrier_schema.sql"), "utf8");
/** settle_kv's space of the SDK's indexes; "p/<barrier key>" -> prepared micros. */
export const META_SPACE = 2;
export const PREPARED_PREFIX = "p/";
// The C++ and Python stores take the same lock around creating or checking the tables.
const SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(7366271011)";

export type BarrierStateName =
  | "prepared"
  | "precommitted"
  | "committed"
  | "aborted"
  | "compensating";

/** One branch's barrier row as read (exists false: no row). */
export interface Barrier {
  exists: boolean;
  state?: BarrierStateName;
  tombstone: boolean;
  payload: Buffer;
  preparedMicros: number | null;
}

export function nowMicros(): number {
  return Date.now() * 1000;
}

class Raced extends Error {}

function sqlState(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : undefined;
}
// Serialization failure, deadlock: run the unit again.
const RETRIED = new Set(["40001", "40P01"]);
const LOCK_TIMEOUT = "55P03";

// The connection is gone: a connection error (class 08), the server shutting down (57P01..03),
// a socket error (ECONNRESET, ...), or pg's own word for it.
function lost(e: unknown): boolean {
  const code = sqlState(e) ?? "";
  const message = e instanceof Error ? e.message : "";
  return (
    code.startsWith("08") ||
    code.startsWith("57P") ||
    /^E[A-Z]+$/.test(code) ||
    /Connection terminated|connection error|not queryable/i.test(message)
  );
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).trim().split("\n")[0];
}

/** One call's SQL transaction, given to the unit's work: the client the handler writes through,
 * and the barrier row's reads and writes. One call's only. */
export class Unit {
  constructor(
    readonly sql: PoolClient,
    readonly now: number,
  ) {}

  async readBarrier(txnId: string, branchId: number): Promise<Barrier> {
    // FOR UPDATE: what a unit reads stays as it read it until the unit ends.
    const r = await this.sql.query(
      "SELECT state, tombstone, payload, prepared_micros FROM settle_barrier " +
        "WHERE txn_id = $1 AND branch_id = $2 FOR UPDATE",
      [txnId, branchId],
    );
    if (r.rows.length === 0) return { exists: false, tombstone: false, payload: Buffer.alloc(0), preparedMicros: null };
    const row = r.rows[0];
    return {
      exists: true,
      state: row.state,
      tombstone: row.tombstone,
      payload: row.payload ?? Buffer.alloc(0),
      preparedMicros: row.prepared_micros === null ? null : Number(row.prepared_micros),
    };
  }

  /** Writes the row; `seen` is what readBarrier returned. A row seen absent is inserted and must
   * be: none inserted means a concurrent unit inserted it first (run again). */
  async writeBarrier(
    txnId: string,
    branchId: number,
    seen: Barrier,
    state: BarrierStateName,
    opts: { tombstone?: boolean; payload?: Buffer; preparedMicros?: number | null } = {},
  ): Promise<void> {
    const values = [
      state,
      opts.tombstone ?? false,
      opts.payload && opts.payload.length > 0 ? opts.payload : null,
      opts.preparedMicros ?? null,
      this.now,
      txnId,
      branchId,
    ];
    if (seen.exists) {
      await this.sql.query(
        "UPDATE settle_barrier SET state = $1, tombstone = $2, payload = $3, prepared_micros = $4, " +
          "updated_micros = $5 WHERE txn_id = $6 AND branch_id = $7",
        values,
      );
      return;
    }
    const r = await this.sql.query(
      "INSERT INTO settle_barrier (state, tombstone, payload, prepared_micros, updated_micros, " +
        "txn_id, branch_id) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
      values,
    );
    if (r.rowCount !== 1) throw new Raced();
  }

  async markPrepared(key: string): Promise<void> {
    await this.sql.query(
      "INSERT INTO settle_kv VALUES ($1, $2, $3) ON CONFLICT (space, key) DO UPDATE SET " +
        "value = EXCLUDED.value",
      [META_SPACE, Buffer.from(PREPARED_PREFIX + key), Buffer.from(String(this.now))],
    );
  }

  async unmarkPrepared(key: string): Promise<void> {
    await this.sql.query("DELETE FROM settle_kv WHERE space = $1 AND key = $2", [
      META_SPACE,
      Buffer.from(PREPARED_PREFIX + key),
    ]);
  }

  /** Runs `step` inside a savepoint; when it throws Refuse, rolls its statements back and
   * rethrows. Any other error ends the whole unit. */
  async staged<T>(step: () => Promise<T>): Promise<T> {
    await this.sql.query("SAVEPOINT settle_handler");
    try {
      return await step();
    } catch (e) {
      if (e instanceof Refuse) await this.sql.query("ROLLBACK TO SAVEPOINT settle_handler");
      throw e;
    }
  }
}

export interface StoreOptions {
  poolSize?: number;
  maxAttempts?: number;
  lockTimeoutMs?: number;
}

/** A pool of connections to the service's database, each unit of work one SQL transaction.
 * Opening creates the tables (or checks them). Safe to share across calls. */
export class Store {
  private constructor(
    private readonly pool: Pool,
    private readonly maxAttempts: number,
  ) {}

  static async open(dsn: string, options: StoreOptions = {}): Promise<Store> {
    const pool = new Pool({
      connectionString: dsn,
      max: options.poolSize ?? 8,
      lock_timeout: options.lockTimeoutMs ?? 5000,
    });
    pool.on("error", () => {}); // An idle connection lost: the next checkout reconnects.
    const store = new Store(pool, options.maxAttempts ?? 5);
    try {
      await store.ensureSchema();
    } catch (e) {
      await pool.end();
      throw e;
    }
    return store;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async ensureSchema(): Promise<void> {
    const conn = await this.pool.connect();
    try {
      await conn.query("BEGIN");
      await conn.query(SCHEMA_LOCK);
      const has = await conn.query(
        "SELECT to_regclass('settle_schema') IS NOT NULL AS schema, " +
          "to_regclass('settle_barrier') IS NOT NULL AS barrier",
      );
      const { schema, barrier } = has.rows[0];
      if (!schema && !barrier) {
        await conn.query(SCHEMA_DDL);
      } else if (!schema) {
        throw new StatusError(
          status.FAILED_PRECONDITION,
          "a table settle_barrier exists without settle_schema: it is not Settle's; use another " +
            "database or schema",
        );
      } else {
        const v = await conn.query(
          "SELECT version FROM settle_schema WHERE component = 'settle_barrier'",
        );
        if (v.rows.length === 0) {
          throw new StatusError(
            status.FAILED_PRECONDITION,
            "settle_schema names no version of settle_barrier: the schema is damaged",
          );
        }
        const version = Number(v.rows[0].version);
        if (version > SCHEMA_VERSION) {
          throw new StatusError(
            status.FAILED_PRECONDITION,
            `the barrier tables have schema version ${version}, written by a newer Settle; this ` +
              `SDK knows version ${SCHEMA_VERSION} and will not write them`,
          );
        }
        if (version < SCHEMA_VERSION || !barrier) {
          throw new StatusError(
            status.FAILED_PRECONDITION,
            `the barrier tables have schema version ${version} but settle_barrier is ` +
              `${barrier ? "older" : "missing"}: the schema is damaged`,
          );
        }
      }
      await conn.query("COMMIT");
    } catch (e) {
      await conn.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      conn.release();
    }
  }

  /** Runs `work(unit)` in one SQL transaction and commits; resolves to what it returns. A
   * StatusError it throws rolls the unit back and is rethrown (the protocol's answer). A unit
   * lost to a concurrent duplicate, a serialization failure or a deadlock runs again;
   * UNAVAILABLE after maxAttempts runs, on a lost connection or a lock wait timeout. */
  async run<T>(work: (unit: Unit) => Promise<T>): Promise<T> {
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      let conn: PoolClient;
      try {
        conn = await this.pool.connect();
      } catch (e) {
        throw new StatusError(status.UNAVAILABLE, `the database cannot be reached: ${firstLine(e)}`);
      }
      let broken = false;
      try {
        await conn.query("BEGIN");
        const result = await work(new Unit(conn, nowMicros()));
        await conn.query("COMMIT");
        return result;
      } catch (e) {
        if (e instanceof StatusError || e instanceof Refuse) {
          await conn.query("ROLLBACK");
          throw e;
        }
        if (e instanceof Raced || RETRIED.has(sqlState(e) ?? "")) {
          await conn.query("ROLLBACK");
          continue;
        }
        if (sqlState(e) === LOCK_TIMEOUT) {
          await conn.query("ROLLBACK");
          throw new StatusError(
            status.UNAVAILABLE,
            "a barrier row stayed locked past the lock timeout; try again",
          );
        }
        if (lost(e)) {
          broken = true;
          throw new StatusError(status.UNAVAILABLE, `the database failed the unit: ${firstLine(e)}`);
        }
        await conn.query("ROLLBACK").catch(() => {
          broken = true;
        });
        throw e; // The handler's own error.
      } finally {
        conn.release(broken);
      }
    }
    throw new StatusError(
      status.UNAVAILABLE,
      `the unit was rolled back ${this.maxAttempts} times (concurrent duplicates, serialization ` +
        "failures or deadlocks); try again",
    );
  }

  /** A read-only query's rows, outside any unit (committed state only). */
  async read(sql: string, params: unknown[] = []): Promise<Record<string, any>[]> {
    try {
      return (await this.pool.query(sql, params)).rows;
    } catch (e) {
      if (lost(e)) {
        throw new StatusError(status.UNAVAILABLE, `the database cannot be read: ${firstLine(e)}`);
      }
      throw e;
    }
  }

  /** A connection of the pool for the service's own statements outside any call (its tables,
   * say); release it when done. */
  async connect(): Promise<PoolClient> {
    return this.pool.connect();
  }
}
