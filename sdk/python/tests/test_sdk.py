"""Unit tests of the Python SDK's pieces that need no database: the edge checks, the caller's
error contract and retries (against an in-process fake coordinator), and the barrier schema
(the same text as the README's, which PgSchemaTest ties to the C++ store's).
Run: PYTHONPATH=build/python python3 -m unittest discover -s sdk/python/tests"""

import concurrent.futures
import os
import unittest

import grpc

import settle
from settle import _edge, _store, shards
from settle.v1 import coordinator_pb2, coordinator_pb2_grpc, participant_pb2

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


class EdgeTest(unittest.TestCase):
    def status(self, fn, *args):
        with self.assertRaises(_edge.StatusError) as e:
            fn(*args)
        return e.exception

    def test_ids_are_checked_by_name(self):
        _edge.check_branch("s0-00000000000000ff", 1023)
        _edge.check_branch("kit-00000000000000ff", 0)
        for bad in ("", "not a settle id", "S0-00000000000000ff", "s0-ff", "s-0-0000000000000000g",
                    "x" * 60 + "-00000000000000ff"):
            e = self.status(_edge.check_branch, bad, 0)
            self.assertEqual(e.code, grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn("txn_id", e.message)
        e = self.status(_edge.check_branch, "s0-00000000000000ff", 1024)
        self.assertIn("branch_id 1024", e.message)

    def test_deadline_is_required_and_valid(self):
        request = participant_pb2.PrepareRequest(txn_id="s0-00000000000000ff")
        self.assertIn("deadline is required",
                      self.status(_edge.deadline_micros, request).message)
        request.deadline.seconds = 253402300800  # Year 10000.
        self.assertIn("deadline is not a valid Timestamp",
                      self.status(_edge.deadline_micros, request).message)
        request.deadline.seconds = 2
        request.deadline.nanos = 5000
        self.assertEqual(_edge.deadline_micros(request), 2000005)

    def test_echo_is_short_and_escaped(self):
        self.assertEqual(_edge.echo("a'b\n\x01"), "'a\\'b\\n\\x01'")
        self.assertEqual(_edge.echo("<script>" * 20), "'" + ("<script>" * 8) + "...' (160 bytes)")

    def test_a_call_meant_for_another_participant_is_refused(self):
        _edge.check_participant("points", "")
        _edge.check_participant("points", "points")
        e = self.status(_edge.check_participant, "points", "balance")
        self.assertEqual(e.code, grpc.StatusCode.FAILED_PRECONDITION)


class SchemaTest(unittest.TestCase):
    def test_the_schema_is_the_readmes(self):
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = f.read()
        self.assertIn("```sql\n" + _store.SCHEMA_DDL + "```", readme)


class ShardsTest(unittest.TestCase):
    """The vectors of tests/unit/common/shard_map_test.cc: every client puts a key in the same
    slot, or a retry could reach a shard that never saw it."""

    def test_slots_are_fnv1a_of_the_keys_bytes(self):
        for key, slot in [("", 453), ("a", 300), ("pay-1", 423), ("order-42/retry", 813),
                          ("\u043a\u043b\u044e\u0447", 481)]:
            self.assertEqual(shards.slot_of_key(key), slot, key)

    def test_a_slots_shard_is_its_jump_hash(self):
        for slot, n, shard in [(0, 4, 0), (300, 4, 2), (1023, 4, 1), (453, 2, 0), (481, 8, 6),
                               (700, 256, 242)]:
            self.assertEqual(shards.shard_of_slot(slot, n), shard, (slot, n))

    def test_a_pattern_expands_and_ids_go_to_their_shard(self):
        m = shards.ShardMap("settle-coordinator-{0..2}.settle-coordinator:7070")
        self.assertEqual(m.endpoints[2], "settle-coordinator-2.settle-coordinator:7070")
        self.assertEqual(m.shard_of_txn_id("s2-0000000000000001"), 2)
        for bad in ("s3-0000000000000001", "s02-0000000000000001", "eu1-0000000000000001",
                    "s1-01"):
            with self.assertRaises(ValueError):
                m.shard_of_txn_id(bad)
        self.assertEqual(shards.ShardMap("a:1").shard_of_txn_id("eu1-0000000000000001"), 0)
        for bad in ("x-{1..3}:1", "x-{0..256}:1", "a:1,,b:2", ""):
            with self.assertRaises(ValueError):
                shards.ShardMap(bad)


class FakeCoordinator(coordinator_pb2_grpc.CoordinatorServicer):
    """Answers UNAVAILABLE `fail` times, then COMMITTED; records each request's key."""

    def __init__(self, fail, code=grpc.StatusCode.UNAVAILABLE):
        self.fail, self.code, self.keys = fail, code, []

    def Execute(self, request, context):
        self.keys.append(request.idempotency_key)
        if len(self.keys) <= self.fail:
            context.abort(self.code, "field idempotency_key: not now")
        return coordinator_pb2.ExecuteResponse(txn_id="s0-0000000000000001",
                                               outcome=coordinator_pb2.OUTCOME_COMMITTED,
                                               replayed=len(self.keys) > 1)


class ClientTest(unittest.TestCase):
    def serve(self, fake):
        server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
        coordinator_pb2_grpc.add_CoordinatorServicer_to_server(fake, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self.addCleanup(server.stop, None)
        client = settle.Client("127.0.0.1:%d" % port)
        self.addCleanup(client.close)
        return client

    def test_unavailable_and_cancelled_are_retried_with_the_same_key(self):
        # CANCELLED: a shard that stops with the call just accepted.
        for code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
            fake = FakeCoordinator(fail=2, code=code)
            result = self.serve(fake).execute([settle.Step("points", b"{}")], "order-9",
                                              backoff=0.01)
            self.assertTrue(result.committed, code)
            self.assertTrue(result.replayed, code)
            self.assertEqual(fake.keys, ["order-9"] * 3, code)

    def test_retries_end_with_the_status_named(self):
        fake = FakeCoordinator(fail=10)
        with self.assertRaises(settle.Unavailable) as e:
            self.serve(fake).execute([("points", b"{}")], "order-9", attempts=3, backoff=0.01)
        self.assertEqual(len(fake.keys), 3)
        self.assertTrue(str(e.exception).startswith("UNAVAILABLE: "))

    def test_bad_input_is_not_retried_and_keeps_its_status(self):
        fake = FakeCoordinator(fail=1, code=grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(settle.InvalidArgument) as e:
            self.serve(fake).execute([("points", b"{}")], "order-9")
        self.assertEqual(fake.keys, ["order-9"])
        self.assertIn("idempotency_key", e.exception.message)
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)

    def test_each_key_goes_to_the_shard_that_owns_it(self):
        fakes, ports = [], []
        for _ in range(2):
            fake = FakeCoordinator(fail=0)
            server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
            coordinator_pb2_grpc.add_CoordinatorServicer_to_server(fake, server)
            ports.append(server.add_insecure_port("127.0.0.1:0"))
            server.start()
            self.addCleanup(server.stop, None)
            fakes.append(fake)
        client = settle.Client(",".join("127.0.0.1:%d" % p for p in ports))
        self.addCleanup(client.close)
        keys = ["order-%d" % i for i in range(20)]
        for k in keys:
            client.execute([settle.Step("points", b"{}")], k)
        for i, fake in enumerate(fakes):
            self.assertEqual(fake.keys, [k for k in keys
                                         if shards.shard_of_slot(shards.slot_of_key(k), 2) == i])

    def test_an_unknown_mode_is_refused_before_any_call(self):
        with self.assertRaises(settle.InvalidArgument):
            settle.Client("127.0.0.1:1").execute([], "k", mode="two-phase")


if __name__ == "__main__":
    unittest.main()
