"""The edge checks every Settle SDK makes before any work: the same rules and the same messages
as the C++ SDK (client/barrier.cc, client/three_phase.cc), so the contract kit reads them alike."""

import re

import grpc

MAX_BRANCH_ID = 1023
_SHARD = re.compile(r"[a-z0-9]{1,16}")
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
# Timestamp's valid range: years 1 to 9999.
_MIN_SECONDS = -62135596800
_MAX_SECONDS = 253402300799


class StatusError(Exception):
    """A call's answer other than OK: a gRPC status code and a message for a person."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _c_hex_escape(raw):
    out = []
    for b in raw:
        c = chr(b)
        if c in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[c])
        elif c in "'\"\\":
            out.append("\\" + c)
        elif 0x20 <= b < 0x7f:
            out.append(c)
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def echo(value, max_bytes=64):
    """A value from a request as an error message shows it: a short, escaped prefix (as the C++
    SDK's Echo)."""
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
    if len(raw) <= max_bytes:
        return "'%s'" % _c_hex_escape(raw)
    return "'%s...' (%d bytes)" % (_c_hex_escape(raw[:max_bytes]), len(raw))


def shard_of(txn_id):
    """The shard of a Settle transaction id (<shard>-<16 hex digits>), or None."""
    dash = txn_id.rfind("-")
    if dash <= 0 or not _HEX16.fullmatch(txn_id[dash + 1:]):
        return None
    shard = txn_id[:dash]
    return shard if _SHARD.fullmatch(shard) else None


def check_branch(txn_id, branch_id):
    if not txn_id:
        raise StatusError(grpc.StatusCode.INVALID_ARGUMENT, "txn_id is required and was empty")
    if len(txn_id) > 64 or shard_of(txn_id) is None:
        raise StatusError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "txn_id %s is not a Settle transaction id (<shard>-<16 hex digits>)" % echo(txn_id))
    if branch_id > MAX_BRANCH_ID:
        raise StatusError(grpc.StatusCode.INVALID_ARGUMENT,
                          "branch_id %d is out of range: at most %d" % (branch_id, MAX_BRANCH_ID))


def deadline_micros(request):
    """A Prepare's deadline in Unix microseconds; INVALID_ARGUMENT naming it when missing or bad."""
    if not request.HasField("deadline"):
        raise StatusError(grpc.StatusCode.INVALID_ARGUMENT, "deadline is required")
    t = request.deadline
    if not (0 <= t.nanos <= 999999999 and _MIN_SECONDS <= t.seconds <= _MAX_SECONDS):
        raise StatusError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "deadline is not a valid Timestamp (seconds %d, nanos %d): nanos must be 0 to "
            "999999999 and the time between years 1 and 9999" % (t.seconds, t.nanos))
    return t.seconds * 1000000 + t.nanos // 1000


def check_three_phase(three, own_branch):
    t = three.timeout
    valid = t.seconds >= 0 and 0 <= t.nanos <= 999999999
    micros = t.seconds * 1000000 + t.nanos // 1000
    if not three.HasField("timeout") or not valid or micros < 1000 or micros > 3600 * 1000000:
        raise StatusError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "three_phase.timeout must be a valid Duration of 1ms to 1h (seconds %d, nanos %d)"
            % (t.seconds, t.nanos))
    seen = set()
    for p in three.peers:
        if p.branch_id == own_branch or p.branch_id > MAX_BRANCH_ID or p.branch_id in seen:
            raise StatusError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "three_phase.peers names branch %d twice, out of range, or this branch itself"
                % p.branch_id)
        seen.add(p.branch_id)


def check_participant(expected, named):
    """A call meant for another participant: the coordinator's registration points here by
    mistake. A call that names none (a tool's, a test's) is taken as meant here."""
    if not expected or not named or named == expected:
        return
    raise StatusError(
        grpc.StatusCode.FAILED_PRECONDITION,
        "participant %s is not this service ('%s'); the coordinator's registration of that name "
        "points here by mistake" % (echo(named), expected))


def barrier_key(txn_id, branch_id):
    """The SDKs' key of a branch: "<txn_id>/<branch_id, 5 digits>" (settle_kv's indexes)."""
    return "%s/%05d" % (txn_id, branch_id)
