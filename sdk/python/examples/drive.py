#!/usr/bin/python3
"""A small closed-loop driver through the Python client: `--concurrency` threads each run one
one-branch transaction after another for `--seconds`, and it prints committed/s and latency
quantiles as JSON. The branch earns a point at the points participant (`--target points`), or
moves 1 between two accounts at the C++ balance participant (`--target balance`, accounts
drive-0..63 opened beforehand), so that each runs through the same driver and coordinator.

    drive.py --coordinator 127.0.0.1:7070 --target points --concurrency 16 --seconds 10
"""

import argparse
import json
import threading
import time

import settle
from settle.v1 import reference_pb2


def payload(target, n):
    account = "drive-%d" % (n % 64)
    if target == "points":
        return json.dumps({"account": account, "points": 1}).encode()
    money = reference_pb2.BalancePayload()
    money.postings.add(account=account, amount_minor=-1)
    money.postings.add(account="drive-%d" % ((n + 1) % 64), amount_minor=1)
    return money.SerializeToString()


def main():
    flags = argparse.ArgumentParser(description=__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    flags.add_argument("--coordinator", required=True)
    flags.add_argument("--target", choices=["points", "balance"], default="points")
    flags.add_argument("--participant", help="the name it is registered under (default: target)")
    flags.add_argument("--concurrency", type=int, default=1)
    flags.add_argument("--seconds", type=float, default=10.0)
    flags.add_argument("--warmup", type=float, default=2.0)
    args = flags.parse_args()
    name = args.participant or args.target

    client = settle.Client(args.coordinator)
    start = time.monotonic()
    measure_from, end = start + args.warmup, start + args.warmup + args.seconds
    latencies, aborted, lock = [], [0], threading.Lock()
    run = "%x" % time.time_ns()

    def loop(worker):
        n = 0
        while True:
            begun = time.monotonic()
            if begun >= end:
                return
            result = client.execute([settle.Step(name, payload(args.target, n))],
                                    "drive-%s-%d-%d" % (run, worker, n))
            took = time.monotonic() - begun
            n += 1
            if begun >= measure_from:
                with lock:
                    if result.committed:
                        latencies.append(took)
                    else:
                        aborted[0] += 1

    threads = [threading.Thread(target=loop, args=(w,)) for w in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()

    def q(p):
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    print(json.dumps({"participant": name, "concurrency": args.concurrency,
                      "committed_per_s": round(len(latencies) / args.seconds, 1),
                      "aborted": aborted[0], "p50_ms": q(0.5), "p99_ms": q(0.99)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
