// Unit tests of the TypeScript SDK's pieces that need no database: the edge checks, the
// caller's error contract and retries (against an in-process fake coordinator), and the barrier
// schema (the README's, which PgSchemaTest ties to the C++ store's). Run: npm test.

import * as grpc from '@grpc/grpc-js';
import {status} from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {describe, it} from 'node:test';

import {Client, InvalidArgument, ShardMap, shardOfSlot, slotOfKey, Unavailable} from '../src';
import * as edge from '../src/edge';

import type { CoordinatorHandlers } from "../src/gen/settle/v1/Coordinator";
import { settleV1 } from "../src/proto";
import { SCHEMA_DDL } from "../src/store";

const ROOT = path.resolve(__dirname, "../../../..");

function statusOf(fn: () => unknown): edge.StatusError {
  try {
    fn();
  } catch (e) {
    if (e instanceof edge.StatusError) return e;
    throw e;
  }
  throw new Error("no StatusError");
}

describe("edge", () => {
  it("checks ids by name", () => {
    edge.checkBranch("s0-00000000000000ff", 1023);
    edge.checkBranch("kit-00000000000000ff", 0);
    for (const bad of ["", "not a settle id", "S0-00000000000000ff", "s0-ff", "x".repeat(60) + "-00000000000000ff"]) {
      const e = statusOf(() => edge.checkBranch(bad, 0));
      assert.equal(e.code, status.INVALID_ARGUMENT);
      assert.match(e.message, /txn_id/);
    }
    assert.match(statusOf(() => edge.checkBranch("s0-00000000000000ff", 1024)).message, /branch_id 1024/);
  });

  it("requires a valid deadline", () => {
    assert.match(statusOf(() => edge.deadlineMicros(null)).message, /deadline is required/);
    assert.match(statusOf(() => edge.deadlineMicros({ seconds: "253402300800" })).message, /not a valid Timestamp/);
    assert.equal(edge.deadlineMicros({ seconds: "2", nanos: 5000 }), 2000005);
  });

  it("echoes short and escaped, as the C++ and Python SDKs", () => {
    assert.equal(edge.echo("a'b\n\x01"), "'a\\'b\\n\\x01'");
    assert.equal(edge.echo("<script>".repeat(20)), "'" + "<script>".repeat(8) + "...' (160 bytes)");
  });

  it("refuses a call meant for another participant", () => {
    edge.checkParticipant("points", "");
    edge.checkParticipant("points", "points");
    assert.equal(statusOf(() => edge.checkParticipant("points", "balance")).code, status.FAILED_PRECONDITION);
  });
});

describe("schema", () => {
  it("is the README's", () => {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    assert.ok(readme.includes("```sql\n" + SCHEMA_DDL + "```"));
  });
});

// Answers `code` `fail` times, then COMMITTED; records each request's key.
async function fakeCoordinator(fail: number, code = status.UNAVAILABLE) {
  const keys: string[] = [];
  const server = new grpc.Server();
  const handlers: Partial<CoordinatorHandlers> = {
    Execute: (call, callback) => {
      keys.push(call.request.idempotency_key);
      if (keys.length <= fail) return callback({ code, details: "field idempotency_key: not now" });
      callback(null, { txn_id: "s0-0000000000000001", outcome: "OUTCOME_COMMITTED", replayed: keys.length > 1 });
    },
  };
  server.addService(settleV1.Coordinator.service, handlers as CoordinatorHandlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const endpoint = `127.0.0.1:${port}`;
  const client = new Client(endpoint);
  return {
    keys,
    client,
    endpoint,
    done: () => {
      client.close();
      server.forceShutdown();
    },
  };
}

// The vectors of tests/unit/common/shard_map_test.cc: every client puts a key in the same slot,
// or a retry could reach a shard that never saw it.
describe("shards", () => {
  it("slots are FNV-1a of the key's bytes", () => {
    const vectors: [string, number][] = [["", 453], ["a", 300], ["pay-1", 423], ["order-42/retry", 813], ["\u043a\u043b\u044e\u0447", 481]];
    for (const [key, slot] of vectors) assert.equal(slotOfKey(key), slot, key);
  });

  it('a slot\'s shard is its jump hash', () => {
    const vectors: [number, number, number][] =
        [[0, 4, 0], [300, 4, 2], [1023, 4, 1], [453, 2, 0], [481, 8, 6], [700, 256, 242]];
    for (const [slot, n, shard] of vectors)
      assert.equal(shardOfSlot(slot, n), shard, `${slot} over ${n}`);
  });

  it("a pattern expands and ids go to their shard", () => {
    const m = new ShardMap("settle-coordinator-{0..2}.settle-coordinator:7070");
    assert.equal(m.endpoints[2], "settle-coordinator-2.settle-coordinator:7070");
    assert.equal(m.shardOfTxnId("s2-0000000000000001"), 2);
    for (const bad of ["s3-0000000000000001", "s02-0000000000000001", "eu1-0000000000000001", "s1-01"]) {
      assert.throws(() => m.shardOfTxnId(bad), /txn_id/);
    }
    assert.equal(new ShardMap("a:1").shardOfTxnId("eu1-0000000000000001"), 0);
    for (const bad of ["x-{1..3}:1", "x-{0..256}:1", "a:1,,b:2", ""]) assert.throws(() => new ShardMap(bad));
  });
});

describe("client", () => {
  const points = [{ participant: "points", payload: Buffer.from("{}") }];

  // CANCELLED: a shard that stops with the call just accepted.
  for (const code of [status.UNAVAILABLE, status.CANCELLED]) {
    it(`retries ${status[code]} with the same key`, async () => {
      const f = await fakeCoordinator(2, code);
      try {
        const r = await f.client.execute(points, "order-9", { backoffMs: 10 });
        assert.ok(r.committed && r.replayed);
        assert.deepEqual(f.keys, ["order-9", "order-9", "order-9"]);
      } finally {
        f.done();
      }
    });
  }

  it("ends its retries with the status named", async () => {
    const f = await fakeCoordinator(10);
    try {
      await assert.rejects(f.client.execute(points, "order-9", { attempts: 3, backoffMs: 10 }), (e: unknown) => {
        assert.ok(e instanceof Unavailable);
        assert.match((e as Error).message, /^UNAVAILABLE: /);
        return true;
      });
      assert.equal(f.keys.length, 3);
    } finally {
      f.done();
    }
  });

  it("does not retry bad input and keeps its status", async () => {
    const f = await fakeCoordinator(1, status.INVALID_ARGUMENT);
    try {
      await assert.rejects(f.client.execute(points, "order-9"), (e: unknown) => {
        assert.ok(e instanceof InvalidArgument);
        assert.equal((e as InvalidArgument).code, status.INVALID_ARGUMENT);
        assert.match((e as InvalidArgument).details, /idempotency_key/);
        return true;
      });
      assert.deepEqual(f.keys, ["order-9"]);
    } finally {
      f.done();
    }
  });

  it("sends each key to the shard that owns it", async () => {
    const a = await fakeCoordinator(0);
    const b = await fakeCoordinator(0);
    const client = new Client(`${a.endpoint},${b.endpoint}`);
    try {
      const keys = Array.from({ length: 20 }, (_, i) => `order-${i}`);
      for (const k of keys) await client.execute(points, k);
      assert.deepEqual(a.keys, keys.filter((k) => shardOfSlot(slotOfKey(k), 2) === 0));
      assert.deepEqual(b.keys, keys.filter((k) => shardOfSlot(slotOfKey(k), 2) === 1));
    } finally {
      client.close();
      a.done();
      b.done();
    }
  });

  it("refuses an unknown mode before any call", async () => {
    await assert.rejects(new Client("127.0.0.1:1").execute([], "k", { mode: "two-phase" }), InvalidArgument);
  });
});
