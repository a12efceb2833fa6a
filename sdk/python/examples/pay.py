#!/usr/bin/python3
"""A caller: pays part of a purchase in money at balance (Settle's C++ reference participant)
and part in loyalty points at the points participant, in one transaction, and prints its outcome
as JSON. Exit 0 when it committed, 1 when it aborted, 2 on an error (its status named).

    pay.py --coordinator 127.0.0.1:7070 --key order-7 --buyer alice --shop shop \\
           --amount_minor 500 --points 50 [--mode saga]
"""

import argparse
import json
import sys

import settle
from settle.v1 import reference_pb2


def main():
    flags = argparse.ArgumentParser(description=__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    flags.add_argument("--coordinator", required=True)
    flags.add_argument("--key", required=True, help="the idempotency key")
    flags.add_argument("--buyer", required=True)
    flags.add_argument("--shop", required=True)
    flags.add_argument("--amount_minor", type=int, required=True)
    flags.add_argument("--points", type=int, required=True)
    flags.add_argument("--mode", default="two_phase", choices=["two_phase", "tcc", "saga"])
    flags.add_argument("--timeout", type=float, default=5.0, help="seconds to prepare")
    flags.add_argument("--tls_ca", help="TLS to the coordinator, trusting this CA")
    flags.add_argument("--tls_cert", help="with --tls_key: this client certificate (mutual TLS)")
    flags.add_argument("--tls_key")
    args = flags.parse_args()

    money = reference_pb2.BalancePayload()
    money.postings.add(account=args.buyer, amount_minor=-args.amount_minor)
    money.postings.add(account=args.shop, amount_minor=args.amount_minor)
    points = json.dumps({"account": args.buyer, "points": -args.points}).encode()
    client = settle.Client(args.coordinator, tls_ca=args.tls_ca, tls_cert=args.tls_cert,
                           tls_key=args.tls_key)
    try:
        result = client.execute([settle.Step("balance", money.SerializeToString()),
                                 settle.Step("points", points)],
                                idempotency_key=args.key, timeout=args.timeout, mode=args.mode)
    except settle.SettleError as e:
        print(json.dumps({"error": e.code.name, "message": e.message}))
        return 2
    print(json.dumps({"txn_id": result.txn_id, "committed": result.committed,
                      "replayed": result.replayed, "refused_participant": result.refused_participant,
                      "reason": result.reason}))
    return 0 if result.committed else 1


if __name__ == "__main__":
    sys.exit(main())
