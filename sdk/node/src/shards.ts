// Routing over coordinator shards, exactly as common/shard_map.h does it in C++ (the same test
// vectors hold in every language): Execute and lookups by idempotency key go to shard
// shardOfSlot(slotOfKey(key), N), where the slot is FNV-1a (32 bit) of the key's UTF-8 bytes
// modulo 1024, a number fixed forever, and the slot's shard its jump consistent hash (Lamping
// and Veach); everything about a transaction id goes to the id's "s<N>" prefix.
//
// Endpoints: one "host:port" (an unsharded coordinator), a comma-separated list (shard i is the
// i-th), or one pattern with a range, "settle-coordinator-{0..3}.settle-coordinator:7070": the
// pods of the coordinators' StatefulSet behind its headless Service.

export const SLOTS = 1024;
export const MAX_SHARDS = 256;
const ORDINAL = /^(0|[1-9][0-9]{0,2})$/;
const PATTERN = /^(.*)\{([0-9]+)\.\.([0-9]+)\}(.*)$/;

/** The key's slot, 0..1023. */
export function slotOfKey(idempotencyKey: string): number {
  let h = 2166136261;
  for (const byte of Buffer.from(idempotencyKey, "utf8")) {
    h ^= byte;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h % SLOTS;
}

/**
 * The slot's shard, 0..shardCount-1: jump consistent hash, in C++'s 64-bit and double
 * arithmetic.
 */
export function shardOfSlot(slot: number, shardCount: number): number {
  let key = BigInt(slot);
  let b = -1;
  let j = 0;
  while (j < shardCount) {
    b = j;
    key = (key * 2862933555777941757n + 1n) & 0xffffffffffffffffn;
    j = Math.trunc((b + 1) * (2147483648 / (Number(key >> 33n) + 1)));
  }
  return b;
}

/** The shards' endpoints, shard i at index i; throws naming the spec if it is bad. */
export function parseEndpoints(spec: string): string[] {
  const m = PATTERN.exec(spec);
  if (m) {
    const [, head, first, last, tail] = m;
    if (first !== "0" || !ORDINAL.test(last) || Number(last) >= MAX_SHARDS || tail.includes("{")) {
      throw new Error(`coordinator endpoints '${spec}': a pattern takes one range {0..N-1} (N up to ${MAX_SHARDS})`);
    }
    return Array.from({ length: Number(last) + 1 }, (_, i) => `${head}${i}${tail}`);
  }
  const endpoints = spec.split(",").map((e) => e.trim());
  if (spec.includes("{") || endpoints.some((e) => !e) || endpoints.length > MAX_SHARDS) {
    throw new Error(`coordinator endpoints '${spec}': give host:port, a comma-separated list of them, or one pattern with {0..N-1}`);
  }
  return endpoints;
}

/** The coordinators of one deployment. Immutable. */
export class ShardMap {
  readonly endpoints: string[];

  constructor(spec: string) {
    this.endpoints = parseEndpoints(spec);
  }

  shardOfKey(idempotencyKey: string): number {
    return shardOfSlot(slotOfKey(idempotencyKey), this.endpoints.length);
  }

  /** With one shard always 0; otherwise the id's s<N> prefix. Throws naming txn_id if the id
   * belongs to none of these shards. */
  shardOfTxnId(txnId: string): number {
    if (this.endpoints.length === 1) return 0;
    const dash = txnId.lastIndexOf("-");
    const prefix = txnId.slice(0, Math.max(dash, 0));
    const counter = txnId.slice(dash + 1);
    if (dash > 0 && /^[0-9a-fA-F]{16}$/.test(counter) && prefix.startsWith("s") && ORDINAL.test(prefix.slice(1))) {
      const n = Number(prefix.slice(1));
      if (n < this.endpoints.length) return n;
    }
    throw new Error(`txn_id '${txnId}' is not an id of shards s0..s${this.endpoints.length - 1} (<shard>-<16 hex digits>)`);
  }
}
