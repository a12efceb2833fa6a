#!/usr/bin/python3
"""A loyalty-points participant on PostgreSQL: the Python SDK's example service.

A branch's payload is JSON {"account": "alice", "points": -50}: negative spends (held at
prepare, taken at commit, released at abort), positive earns (credited at commit). In a saga
the action applies it at once and the compensation applies the inverse.

    points.py --dsn postgresql://... --listen 127.0.0.1:7201 --coordinator 127.0.0.1:7070 \\
              --open alice=500
"""

import argparse
import json
import logging
import os
import signal
import sys
import threading

import settle

SCHEMA = """
CREATE TABLE IF NOT EXISTS points_accounts (
  account   text PRIMARY KEY,
  available bigint NOT NULL CHECK (available >= 0),
  held      bigint NOT NULL DEFAULT 0 CHECK (held >= 0)
)"""


def parse(payload):
    try:
        op = json.loads(payload)
        account, points = op["account"], op["points"]
        if isinstance(account, str) and account and isinstance(points, int) and points != 0:
            return account, points
    except (ValueError, KeyError, TypeError):
        pass
    raise settle.Refuse('the payload is not {"account": "<name>", "points": <non-zero integer>}')


def credit(cur, account, points):
    cur.execute("INSERT INTO points_accounts VALUES (%s, %s) ON CONFLICT (account) DO UPDATE "
                "SET available = points_accounts.available + EXCLUDED.available",
                (account, points))


def debit(cur, account, points, column="available"):
    cur.execute("UPDATE points_accounts SET {0} = {0} - %s WHERE account = %s AND {0} >= %s"
                .format(column), (points, account, points))
    if cur.rowcount != 1:
        raise settle.Refuse("insufficient points in %s" % account)


class Points(settle.Handler):
    def prepare(self, branch, payload, cur):
        account, points = parse(payload)
        if points < 0:
            debit(cur, account, -points)
            cur.execute("UPDATE points_accounts SET held = held + %s WHERE account = %s",
                        (-points, account))

    def commit(self, branch, payload, cur):
        account, points = parse(payload)
        if points < 0:
            debit(cur, account, -points, column="held")
        else:
            credit(cur, account, points)

    def abort(self, branch, payload, cur):
        account, points = parse(payload)
        if points < 0:
            debit(cur, account, -points, column="held")
            credit(cur, account, -points)

    def act(self, branch, payload, cur):
        account, points = parse(payload)
        if points < 0:
            debit(cur, account, -points)
        else:
            credit(cur, account, points)

    def compensate(self, branch, payload, cur):
        account, points = parse(payload)
        if points < 0:
            credit(cur, account, -points)
        else:
            debit(cur, account, points)  # Refused for good when the points were spent since.


def main():
    flags = argparse.ArgumentParser(description=__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    flags.add_argument("--dsn", default=os.environ.get("SETTLE_STORE"),
                       help="the PostgreSQL database (or SETTLE_STORE)")
    flags.add_argument("--listen", default="127.0.0.1:0")
    flags.add_argument("--port_file", help="written with the port once serving")
    flags.add_argument("--coordinator", help="host:port asked about in-doubt branches")
    flags.add_argument("--name", default="points", help="the name it is registered under")
    flags.add_argument("--in_doubt_after", type=float, default=10.0, help="seconds")
    flags.add_argument("--open", action="append", default=[], metavar="ACCOUNT=POINTS",
                       help="creates the account with that balance unless it exists")
    for tls in ("tls_cert", "tls_key", "tls_ca"):
        flags.add_argument("--" + tls)
    flags.add_argument("--tls_client_auth", action="store_true")
    args = flags.parse_args()
    if not args.dsn:
        flags.error("--dsn (or SETTLE_STORE) is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    try:
        participant = settle.Participant(
            Points(), args.dsn, name=args.name, coordinator=args.coordinator,
            in_doubt_after=args.in_doubt_after, tls_cert=args.tls_cert, tls_key=args.tls_key,
            tls_ca=args.tls_ca, tls_client_auth=args.tls_client_auth)
        with participant.connection() as conn, conn.cursor() as cur:
            cur.execute(SCHEMA)
            for opening in args.open:
                account, _, points = opening.partition("=")
                cur.execute("INSERT INTO points_accounts VALUES (%s, %s) ON CONFLICT DO NOTHING",
                            (account, int(points)))
        port = participant.start(args.listen)
    except (settle.StartError, OSError, ValueError) as e:
        # As the C++ participants: 2 a bad DSN or a refused login, 3 tables that are not ours
        # or newer, 1 the database or the port cannot be used now.
        logging.error("cannot start: %s", e)
        return {"INVALID_ARGUMENT": 2, "PERMISSION_DENIED": 2,
                "FAILED_PRECONDITION": 3}.get(getattr(e, "code", None), 1)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(args.port_file + ".tmp", args.port_file)
    logging.info("points participant serving on port %d", port)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    participant.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
