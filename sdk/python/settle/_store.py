"""The barrier in the service's own PostgreSQL database: the tables and rules every Settle SDK
shares (README.md, "Participants on PostgreSQL"; the C++ store is storage/postgres/).

Each call is one SQL transaction, READ COMMITTED: the SDK opens it, reads and locks the branch's
barrier row, runs the handler's statements inside a savepoint (a refusal rolls them back and
keeps the barrier row), writes the barrier row, and commits. A barrier row is inserted with
INSERT ... ON CONFLICT DO NOTHING and the count of inserted rows decides: a call that loses the
race to a concurrent duplicate is rolled back and run again, and then sees the row. So is a
serialization failure or a deadlock, at most `max_attempts` times. A lost connection or a lock
wait past `lock_timeout` answers UNAVAILABLE: the coordinator retries and the barrier gives one
effect."""

import contextlib
import os
import threading
import time

import grpc
import psycopg2
import psycopg2.errors
import psycopg2.pool

from settle._edge import StatusError
from settle.handler import Refuse

SCHEMA_VERSION = 1

# sdk/barrier_schema.sql, the text of the C++ store's (storage/postgres/pg_schema.h) and of the
# README's block, which a test compares with this one.
with open(os.path.join(os.path.dirname(__file__), "barrier_schema.sql")) as _f:
    SCHEMA_DDL = _f.read()

# settle_kv's space of the SDK's indexes; "p/<barrier key>" -> prepared micros marks a two-phase
# branch prepared, for the in-doubt resolver.
META_SPACE = 2
PREPARED_PREFIX = "p/"

# Two processes starting on one new database both find no table: this lock lets one create while
# the other waits and then checks. The C++ store takes the same one.
_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(7366271011)"

_RETRIED = (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected)
_LOST = (psycopg2.OperationalError, psycopg2.InterfaceError)


def now_micros():
    return time.time_ns() // 1000


class Barrier:
    """One branch's barrier row, as read (state None: no row)."""

    __slots__ = ("state", "tombstone", "payload", "prepared_micros", "exists")

    def __init__(self, row=None):
        self.exists = row is not None
        self.state, self.tombstone, payload, self.prepared_micros = row or (None, False, None, None)
        self.payload = bytes(payload) if payload is not None else b""


class _Raced(Exception):
    """A concurrent duplicate inserted the barrier row first: run the unit again."""


class Unit:
    """One call's SQL transaction, given to the unit's work: the cursor the handler writes
    through, and the barrier row's reads and writes. Not thread-safe (one call's)."""

    def __init__(self, cursor, now):
        self.cursor = cursor
        self.now = now

    def read_barrier(self, txn_id, branch_id):
        # FOR UPDATE: what a unit reads stays as it read it until the unit ends.
        self.cursor.execute(
            "SELECT state, tombstone, payload, prepared_micros FROM settle_barrier "
            "WHERE txn_id = %s AND branch_id = %s FOR UPDATE", (txn_id, branch_id))
        return Barrier(self.cursor.fetchone())

    def write_barrier(self, txn_id, branch_id, seen, state, tombstone=False, payload=None,
                      prepared_micros=None):
        """Writes the row; `seen` is what read_barrier returned. A row seen absent is inserted
        and must be: none inserted means a concurrent unit inserted it first (_Raced)."""
        values = (state, tombstone, psycopg2.Binary(payload) if payload else None,
                  prepared_micros, self.now)
        if seen.exists:
            self.cursor.execute(
                "UPDATE settle_barrier SET state = %s, tombstone = %s, payload = %s, "
                "prepared_micros = %s, updated_micros = %s WHERE txn_id = %s AND branch_id = %s",
                values + (txn_id, branch_id))
            return
        self.cursor.execute(
            "INSERT INTO settle_barrier (state, tombstone, payload, prepared_micros, "
            "updated_micros, txn_id, branch_id) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING", values + (txn_id, branch_id))
        if self.cursor.rowcount != 1:
            raise _Raced()

    def mark_prepared(self, key):
        self.cursor.execute(
            "INSERT INTO settle_kv VALUES (%s, %s, %s) ON CONFLICT (space, key) DO UPDATE SET "
            "value = EXCLUDED.value",
            (META_SPACE, (PREPARED_PREFIX + key).encode(), str(self.now).encode()))

    def unmark_prepared(self, key):
        self.cursor.execute("DELETE FROM settle_kv WHERE space = %s AND key = %s",
                            (META_SPACE, (PREPARED_PREFIX + key).encode()))

    def staged(self, step):
        """Runs `step` inside a savepoint; when it raises `Refuse`, rolls its statements back and
        re-raises. Any other exception ends the whole unit."""
        self.cursor.execute("SAVEPOINT settle_handler")
        try:
            return step()
        except Refuse:
            self.cursor.execute("ROLLBACK TO SAVEPOINT settle_handler")
            raise


class _Pool(psycopg2.pool.ThreadedConnectionPool):
    """Connections set up once: explicit transactions, and the lock wait bound."""

    def __init__(self, size, dsn, lock_timeout_ms):
        self._lock_timeout = "%dms" % lock_timeout_ms
        # minconn = maxconn: psycopg2's pool closes a returned connection whenever it holds
        # minconn idle ones, which would make every call open a new connection.
        super().__init__(size, size, dsn)

    def _connect(self, key=None):
        conn = super()._connect(key)
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = %s", (self._lock_timeout,))
        conn.commit()
        return conn


class Store:
    """A pool of connections to the service's database, each unit of work one SQL transaction.
    Opening creates the tables (or checks them). Thread-safe."""

    def __init__(self, dsn, pool_size=8, max_attempts=5, lock_timeout_ms=5000):
        self._dsn = dsn
        self._max_attempts = max_attempts
        self._pool = _Pool(pool_size, dsn, int(lock_timeout_ms))
        # The pool raises when empty; callers wait for a connection instead.
        self._free = threading.BoundedSemaphore(pool_size)
        conn = self._get()
        try:
            self._ensure_schema(conn)
        finally:
            if conn.closed == 0:
                conn.rollback()  # Nothing left open when a check refused the tables.
            self._put(conn, close=False)

    def close(self):
        self._pool.closeall()

    @contextlib.contextmanager
    def connection(self):
        """A pooled connection for the service's own statements outside any call (its schema,
        admin reads); committed when the block ends normally, rolled back otherwise."""
        conn = self._get()
        done = False
        try:
            yield conn
            conn.commit()
            done = True
        finally:
            if not done and conn.closed == 0:
                conn.rollback()
            self._put(conn, close=False)

    def _get(self):
        self._free.acquire()
        try:
            return self._pool.getconn()
        except BaseException:
            self._free.release()
            raise

    def _put(self, conn, close):
        try:
            self._pool.putconn(conn, close=close or conn.closed != 0)
        finally:
            self._free.release()

    @staticmethod
    def _ensure_schema(conn):
        with conn.cursor() as cur:
            cur.execute(_SCHEMA_LOCK)
            cur.execute("SELECT to_regclass('settle_schema') IS NOT NULL, "
                        "to_regclass('settle_barrier') IS NOT NULL")
            schema, barrier = cur.fetchone()
            if not schema and not barrier:
                cur.execute(SCHEMA_DDL)
                conn.commit()
                return
            if not schema:
                raise StatusError(grpc.StatusCode.FAILED_PRECONDITION,
                                  "a table settle_barrier exists without settle_schema: it is not "
                                  "Settle's; use another database or schema")
            cur.execute("SELECT version FROM settle_schema WHERE component = 'settle_barrier'")
            row = cur.fetchone()
            if row is None:
                raise StatusError(grpc.StatusCode.FAILED_PRECONDITION,
                                  "settle_schema names no version of settle_barrier: the schema "
                                  "is damaged")
            if row[0] > SCHEMA_VERSION:
                raise StatusError(grpc.StatusCode.FAILED_PRECONDITION,
                                  "the barrier tables have schema version %d, written by a newer "
                                  "Settle; this SDK knows version %d and will not write them"
                                  % (row[0], SCHEMA_VERSION))
            if row[0] < SCHEMA_VERSION or not barrier:
                raise StatusError(grpc.StatusCode.FAILED_PRECONDITION,
                                  "the barrier tables have schema version %d but settle_barrier "
                                  "is %s: the schema is damaged"
                                  % (row[0], "older" if barrier else "missing"))
        conn.commit()

    def run(self, work):
        """Runs `work(unit)` in one SQL transaction and commits; returns what it returns. A
        StatusError it raises rolls the unit back and is re-raised (the protocol's answer). A
        unit lost to a concurrent duplicate, a serialization failure or a deadlock runs again;
        UNAVAILABLE after `max_attempts` runs, on a lost connection or a lock wait timeout."""
        for attempt in range(self._max_attempts):
            try:
                conn = self._get()
            except _LOST as e:
                raise StatusError(grpc.StatusCode.UNAVAILABLE,
                                  "the database cannot be reached: %s" % _first_line(e))
            broken = False
            try:
                with conn.cursor() as cur:
                    result = work(Unit(cur, now_micros()))
                conn.commit()
                return result
            except (_Raced,) + _RETRIED:
                conn.rollback()
            except psycopg2.errors.LockNotAvailable:
                conn.rollback()
                raise StatusError(grpc.StatusCode.UNAVAILABLE,
                                  "a barrier row stayed locked past the lock timeout; try again")
            except _LOST as e:
                broken = conn.closed != 0
                if not broken:
                    conn.rollback()
                raise StatusError(grpc.StatusCode.UNAVAILABLE,
                                  "the database failed the unit: %s" % _first_line(e))
            except BaseException:
                if conn.closed == 0:
                    conn.rollback()
                raise
            finally:
                self._put(conn, close=broken)
        raise StatusError(grpc.StatusCode.UNAVAILABLE,
                          "the unit was rolled back %d times (concurrent duplicates, "
                          "serialization failures or deadlocks); try again" % self._max_attempts)

    def read(self, sql, params=()):
        """A read-only query's rows, outside any unit (committed state only)."""
        try:
            conn = self._get()
        except _LOST as e:
            raise StatusError(grpc.StatusCode.UNAVAILABLE,
                              "the database cannot be reached: %s" % _first_line(e))
        broken = False
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                rows = cur.fetchall()
            conn.commit()
            return rows
        except _LOST as e:
            broken = True
            raise StatusError(grpc.StatusCode.UNAVAILABLE,
                              "the database connection was lost: %s" % _first_line(e))
        finally:
            self._put(conn, close=broken)


def _first_line(e):
    return str(e).strip().split("\n")[0]
