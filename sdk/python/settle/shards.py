"""Routing over coordinator shards, exactly as common/shard_map.h does it in C++ (the same test
vectors hold in every language): Execute and lookups by idempotency key go to shard
shard_of_slot(slot_of_key(key), N), where the slot is FNV-1a (32 bit) of the key's UTF-8 bytes
modulo 1024, a number fixed forever, and the slot's shard its jump consistent hash (Lamping and
Veach); everything about a transaction id goes to the id's "s<N>" prefix.

Endpoints: one "host:port" (an unsharded coordinator), a comma-separated list (shard i is the
i-th), or one pattern with a range, "settle-coordinator-{0..3}.settle-coordinator:7070": the
pods of the coordinators' StatefulSet behind its headless Service."""

import re

SLOTS = 1024
MAX_SHARDS = 256
_ORDINAL = re.compile(r"^(0|[1-9][0-9]{0,2})$")
_COUNTER = re.compile(r"^[0-9a-fA-F]{16}$")
_PATTERN = re.compile(r"^(.*)\{([0-9]+)\.\.([0-9]+)\}(.*)$")


def slot_of_key(idempotency_key):
    """The key's slot, 0..1023."""
    h = 2166136261
    for byte in idempotency_key.encode("utf-8"):
        h ^= byte
        h = (h * 16777619) & 0xFFFFFFFF
    return h % SLOTS


def shard_of_slot(slot, shard_count):
    """The slot's shard, 0..shard_count-1: jump consistent hash, in C++'s 64-bit and double
    arithmetic."""
    key, b, j = slot, -1, 0
    while j < shard_count:
        b = j
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def parse_endpoints(spec):
    """The shards' endpoints, shard i at index i. ValueError naming the spec if it is bad."""
    m = _PATTERN.match(spec)
    if m:
        first, last = m.group(2), m.group(3)
        if (first != "0" or not _ORDINAL.match(last) or int(last) >= MAX_SHARDS
                or "{" in m.group(4)):
            raise ValueError("coordinator endpoints %r: a pattern takes one range {0..N-1} "
                             "(N up to %d)" % (spec, MAX_SHARDS))
        return ["%s%d%s" % (m.group(1), i, m.group(4)) for i in range(int(last) + 1)]
    endpoints = [e.strip() for e in spec.split(",")]
    if "{" in spec or any(not e for e in endpoints) or len(endpoints) > MAX_SHARDS:
        raise ValueError("coordinator endpoints %r: give host:port, a comma-separated list of "
                         "them, or one pattern with {0..N-1}" % spec)
    return endpoints


class ShardMap:
    """The coordinators of one deployment. Immutable; thread-safe."""

    def __init__(self, spec):
        self.endpoints = parse_endpoints(spec)

    def __len__(self):
        return len(self.endpoints)

    def shard_of_key(self, idempotency_key):
        return shard_of_slot(slot_of_key(idempotency_key), len(self.endpoints))

    def shard_of_txn_id(self, txn_id):
        """With one shard always 0; otherwise the id's s<N> prefix. ValueError naming txn_id if
        the id belongs to none of these shards."""
        if len(self.endpoints) == 1:
            return 0
        prefix, dash, counter = txn_id.rpartition("-")
        if (dash and _COUNTER.match(counter) and prefix.startswith("s")
                and _ORDINAL.match(prefix[1:]) and int(prefix[1:]) < len(self.endpoints)):
            return int(prefix[1:])
        raise ValueError("txn_id %r is not an id of shards s0..s%d (<shard>-<16 hex digits>)"
                         % (txn_id, len(self.endpoints) - 1))
