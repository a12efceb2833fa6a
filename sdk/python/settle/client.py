"""A payment API's handle on the coordinator: run transactions and look them up.

    client = settle.Client("127.0.0.1:7070")  # Or every shard: "a:7070,b:7070"
    result = client.execute([settle.Step("balance", payload), settle.Step("points", other)],
                            idempotency_key="order-42", timeout=5.0)
    if result.committed: ...

Every error is the coordinator's status (coordinator.proto) as a SettleError subclass that
names it, e.g. AlreadyExists("ALREADY_EXISTS: idempotency_key 'order-42' ...")."""

import collections
import time

import grpc

from settle.shards import ShardMap
from settle.tls import channel_credentials
from settle.v1 import coordinator_pb2, coordinator_pb2_grpc, reference_pb2


class SettleError(Exception):
    """A call's status other than OK. `code` is the grpc.StatusCode, `message` the coordinator's
    message (naming the field at fault for bad input); str() gives both."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code.name, message))
        self.code = code
        self.message = message


class InvalidArgument(SettleError): pass  # noqa: E701 A field is wrong; the message names it.
class NotFound(SettleError): pass  # noqa: E701 An unknown transaction, key or participant.
class AlreadyExists(SettleError): pass  # noqa: E701 The key was used with another body.
class FailedPrecondition(SettleError): pass  # noqa: E701 Not now: e.g. another shard's id.
class ResourceExhausted(SettleError): pass  # noqa: E701 Too large, or too many in flight.
class PermissionDenied(SettleError): pass  # noqa: E701 This identity's role may not.
class Unauthenticated(SettleError): pass  # noqa: E701 No or an unknown identity.
class Unavailable(SettleError): pass  # noqa: E701 Not reached (after the retries, for execute).
class DeadlineExceeded(SettleError): pass  # noqa: E701 No answer in time.
class Cancelled(SettleError): pass  # noqa: E701 The server stopped mid-call (a shard's restart).


_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
}


def error_from(rpc_error):
    """The SettleError for a grpc.RpcError."""
    code = rpc_error.code()
    return _ERRORS.get(code, SettleError)(code, rpc_error.details() or "")


# One branch of a transaction: a registered participant's name, its payload (bytes) and, for a
# saga, the step it runs in.
Step = collections.namedtuple("Step", ["participant", "payload", "step"], defaults=(b"", 0))

MODES = {
    "two_phase": coordinator_pb2.MODE_TWO_PHASE,
    "tcc": coordinator_pb2.MODE_TWO_PHASE,  # TCC runs in two-phase transactions.
    "saga": coordinator_pb2.MODE_SAGA,
    "three_phase": coordinator_pb2.MODE_THREE_PHASE,
}


class Result:
    """An outcome: `txn_id`, `committed`, and for an abort the branch that refused and why.
    `replayed`: this call repeated an earlier one with the same key. `response`: the whole
    ExecuteResponse."""

    def __init__(self, response):
        self.response = response
        self.txn_id = response.txn_id
        self.committed = response.outcome == coordinator_pb2.OUTCOME_COMMITTED
        self.refused_participant = response.refused_participant
        self.reason = response.reason
        self.replayed = response.replayed

    def __repr__(self):
        return "Result(%s, %s%s)" % (self.txn_id, "committed" if self.committed else "aborted",
                                     "" if self.committed else ": " + self.reason)


class Client:
    """Blocking calls to one coordinator at `target` (host:port), or to the shards of one
    deployment (a list or a pattern, settle.shards): Execute and lookups by key go to the shard
    that owns the key, everything about a transaction id to the id's shard. TLS when `tls_ca` is
    given (with `tls_cert`/`tls_key` for mutual TLS); `token`: a bearer token for the
    coordinator's roles. Thread-safe; share one."""

    def __init__(self, target, tls_ca=None, tls_cert=None, tls_key=None, token=None):
        try:
            self._shards = ShardMap(target)
        except ValueError as e:
            raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT, str(e)) from None
        creds = channel_credentials(tls_cert, tls_key, tls_ca)
        # A shard back from a crash is found within two seconds, not gRPC's two minutes.
        options = [("grpc.max_reconnect_backoff_ms", 2000)]
        self._channels = [grpc.secure_channel(e, creds, options) if creds
                          else grpc.insecure_channel(e, options)
                          for e in self._shards.endpoints]
        self._coordinators = [coordinator_pb2_grpc.CoordinatorStub(c) for c in self._channels]
        self._registries = [coordinator_pb2_grpc.RegistryStub(c) for c in self._channels]
        self._metadata = (("authorization", "Bearer " + token),) if token else None

    def close(self):
        for c in self._channels:
            c.close()

    def _call(self, shard, method, request, timeout):
        try:
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            err = error_from(e)
            if len(self._channels) > 1 and isinstance(err, (Unavailable, DeadlineExceeded,
                                                            Cancelled)):
                # Only that shard's keys wait: say which.
                err = type(err)(err.code, "shard s%d (%s): %s"
                                % (shard, self._shards.endpoints[shard], err.message))
            raise err from None

    def _by_id(self, txn_id):
        try:
            return self._shards.shard_of_txn_id(txn_id)
        except ValueError as e:
            raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT, str(e)) from None

    def execute(self, branches, idempotency_key, timeout=5.0, mode="two_phase",
                wait_for_acks=False, attempts=5, call_timeout=30.0, backoff=0.1,
                max_backoff=2.0):
        """Runs one transaction to its outcome and returns a Result (an abort is a Result, not an
        error). `branches`: Step values; `timeout`: seconds the prepare phase may take; `mode`:
        two_phase, tcc, saga or three_phase. UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED (a
        shard stopped mid-call; this client never cancels its own) are retried with the same
        key, which is safe: a repeat returns the first outcome."""
        if mode not in MODES:
            raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT,
                                  "mode %r is not one of %s" % (mode, ", ".join(MODES)))
        request = coordinator_pb2.ExecuteRequest(idempotency_key=idempotency_key,
                                                 mode=MODES[mode], wait_for_acks=wait_for_acks)
        request.timeout.FromMicroseconds(int(timeout * 1e6))
        for b in branches:
            b = Step(*b) if not isinstance(b, Step) else b
            request.branches.add(participant=b.participant, payload=b.payload, step=b.step)
        shard = self._shards.shard_of_key(idempotency_key)
        delay = backoff
        for attempt in range(1, attempts + 1):
            try:
                return Result(self._call(shard, self._coordinators[shard].Execute, request,
                                         call_timeout))
            except (Unavailable, DeadlineExceeded, Cancelled):
                if attempt == attempts:
                    raise
            time.sleep(delay)  # Client-side backoff between attempts of one key.
            delay = min(delay * 2, max_backoff)

    def transfer(self, source, target, amount_minor, idempotency_key, timeout=5.0):
        """The reference payment: moves `amount_minor` from one account to another at balance,
        journals both legs at ledger and queues a receipt at notification (reference.proto)."""
        balance = reference_pb2.BalancePayload()
        balance.postings.add(account=source, amount_minor=-amount_minor)
        balance.postings.add(account=target, amount_minor=amount_minor)
        ledger = reference_pb2.LedgerPayload(memo="transfer " + idempotency_key)
        ledger.lines.add(account=target, debit_minor=amount_minor)
        ledger.lines.add(account=source, credit_minor=amount_minor)
        note = reference_pb2.NotificationPayload(
            recipient=source, topic="payment.settled",
            body='{"from":"%s","to":"%s","amount_minor":%d}' % (source, target, amount_minor))
        return self.execute([Step("balance", balance.SerializeToString()),
                             Step("ledger", ledger.SerializeToString()),
                             Step("notification", note.SerializeToString())],
                            idempotency_key, timeout=timeout)

    def get_transaction(self, txn_id=None, idempotency_key=None, timeout=10.0):
        """The transaction (coordinator_pb2.Transaction) by id or by idempotency key."""
        if txn_id is not None:
            shard = self._by_id(txn_id)
            request = coordinator_pb2.GetTransactionRequest(txn_id=txn_id)
        else:
            shard = self._shards.shard_of_key(idempotency_key)
            request = coordinator_pb2.GetTransactionRequest(idempotency_key=idempotency_key)
        return self._call(shard, self._coordinators[shard].GetTransaction, request, timeout)

    def abort_transaction(self, txn_id, reason, timeout=10.0):
        shard = self._by_id(txn_id)
        return self._call(shard, self._coordinators[shard].AbortTransaction,
                          coordinator_pb2.AbortTransactionRequest(txn_id=txn_id, reason=reason),
                          timeout)

    def register_participant(self, name, endpoint, timeout=10.0):
        """Registers at every shard (each calls every participant); running it again is safe."""
        request = coordinator_pb2.RegisterParticipantRequest(name=name, endpoint=endpoint)
        for shard, registry in enumerate(self._registries):
            answer = self._call(shard, registry.RegisterParticipant, request, timeout)
        return answer
