"""Serves a Handler as a Settle participant: the Participant gRPC service (participant.proto's
result contract), the barrier in the service's PostgreSQL database, and the in-doubt resolver.

    participant = settle.Participant(Wallet(), dsn="postgresql://...", name="points",
                                     coordinator="127.0.0.1:7070")
    port = participant.start("127.0.0.1:7201")
    participant.wait()

Runs two-phase commit, TCC and sagas. Three-phase commit is the C++ SDK's only: a three-phase
Prepare is held like a two-phase one (resolved through GetDecision) and PreCommit answers
UNIMPLEMENTED, which the coordinator reads as a refusal: such a transaction aborts."""

import concurrent.futures
import logging
import threading

import grpc
import psycopg2

from settle import _edge
from settle import _store
from settle._edge import StatusError
from settle.handler import IN_PROGRESS, Branch, Refuse
from settle.shards import ShardMap
from settle.tls import channel_credentials, server_credentials
from settle.v1 import coordinator_pb2, coordinator_pb2_grpc, participant_pb2, participant_pb2_grpc

log = logging.getLogger("settle.participant")

_STATE_NAMES = {
    "prepared": participant_pb2.BARRIER_STATE_PREPARED,
    "precommitted": participant_pb2.BARRIER_STATE_PRECOMMITTED,
    "committed": participant_pb2.BARRIER_STATE_COMMITTED,
    "aborted": participant_pb2.BARRIER_STATE_ABORTED,
    "compensating": participant_pb2.BARRIER_STATE_COMPENSATING,
}


class _Protocol:
    """The barrier's rules, one SQL transaction per call; the same as the C++ SDK's
    (client/participant_service.cc, client/saga_steps.cc)."""

    def __init__(self, handler, store):
        self.handler = handler
        self.store = store

    def prepare(self, txn_id, branch_id, payload, deadline):
        """(yes, reason)."""
        def work(unit):
            b = unit.read_barrier(txn_id, branch_id)
            if b.exists:
                # A duplicate or late Prepare gets the answer the first one got; nothing changes.
                if b.state in ("prepared", "committed"):
                    return True, ""
                return False, ("the branch was aborted before this Prepare arrived" if b.tombstone
                               else "the branch was already refused or aborted")
            if unit.now > deadline:
                return False, "the Prepare arrived after the transaction's deadline"
            try:
                unit.staged(lambda: self.handler.prepare(Branch(txn_id, branch_id), payload,
                                                         unit.cursor))
            except Refuse as r:
                # Recorded so a duplicate Prepare repeats the NO instead of reserving anew: the
                # coordinator sends no Abort to a branch that voted NO.
                unit.write_barrier(txn_id, branch_id, b, "aborted")
                return False, r.reason
            unit.write_barrier(txn_id, branch_id, b, "prepared", payload=payload,
                               prepared_micros=unit.now)
            unit.mark_prepared(_edge.barrier_key(txn_id, branch_id))
            return True, ""
        return self.store.run(work)

    def decide(self, txn_id, branch_id, commit):
        key = _edge.barrier_key(txn_id, branch_id)

        def work(unit):
            b = unit.read_barrier(txn_id, branch_id)
            if not b.exists:
                if commit:
                    raise StatusError(grpc.StatusCode.FAILED_PRECONDITION,
                                      "branch %s was never prepared here; a Commit for it breaks "
                                      "the protocol" % key)
                # Abort before Prepare: the tombstone makes a late Prepare vote NO.
                unit.write_barrier(txn_id, branch_id, b, "aborted", tombstone=True)
                return
            done = "committed" if commit else "aborted"
            if b.state == done:
                return  # A duplicate: one effect only.
            if b.state not in ("prepared", "precommitted"):
                raise StatusError(grpc.StatusCode.FAILED_PRECONDITION,
                                  "branch %s is already %s; it cannot be %s"
                                  % (key, b.state, done))
            step = self.handler.commit if commit else self.handler.abort
            step(Branch(txn_id, branch_id), b.payload, unit.cursor)
            unit.write_barrier(txn_id, branch_id, b, done, prepared_micros=b.prepared_micros)
            unit.unmark_prepared(key)
        self.store.run(work)

    def act(self, txn_id, branch_id, payload):
        """(outcome, reason) for an action."""
        def work(unit):
            b = unit.read_barrier(txn_id, branch_id)
            if b.exists:
                if b.state == "committed":
                    return participant_pb2.STEP_DONE, ""  # A duplicate: one effect only.
                if b.state != "prepared":  # Prepared: in progress, the handler looks again.
                    return participant_pb2.STEP_REFUSED, (
                        "compensated before this action arrived" if b.tombstone
                        else "refused or compensated already")
            return self._step(unit, b, txn_id, branch_id, payload, self.handler.act,
                              {"done": "committed", "in_progress": "prepared",
                               "refused": "aborted"})
        return self.store.run(work)

    def compensate(self, txn_id, branch_id, payload):
        def work(unit):
            b = unit.read_barrier(txn_id, branch_id)
            if not b.exists:
                # Before its action: nothing to undo, and the action must never run now.
                unit.write_barrier(txn_id, branch_id, b, "aborted", tombstone=True)
                return participant_pb2.STEP_DONE, ""
            if b.state == "aborted":
                return participant_pb2.STEP_DONE, ""  # Refused, compensated, or a tombstone.
            # Refused: unchanged, the saga parks and an operator may retry.
            return self._step(unit, b, txn_id, branch_id, payload, self.handler.compensate,
                              {"done": "aborted", "in_progress": "compensating",
                               "refused": None})
        return self.store.run(work)

    @staticmethod
    def _step(unit, b, txn_id, branch_id, payload, fn, states):
        try:
            result = unit.staged(lambda: fn(Branch(txn_id, branch_id), payload, unit.cursor))
            kind = "in_progress" if result is IN_PROGRESS else "done"
            outcome, reason = (participant_pb2.STEP_IN_PROGRESS if kind == "in_progress"
                               else participant_pb2.STEP_DONE), ""
        except Refuse as r:
            kind, outcome, reason = "refused", participant_pb2.STEP_REFUSED, r.reason
        if states[kind] is not None:
            unit.write_barrier(txn_id, branch_id, b, states[kind])
        return outcome, reason

    def state(self, txn_id, branch_id):
        rows = self.store.read("SELECT state FROM settle_barrier WHERE txn_id = %s AND "
                               "branch_id = %s", (txn_id, branch_id))
        return _STATE_NAMES[rows[0][0]] if rows else participant_pb2.BARRIER_STATE_UNSPECIFIED


def _answer(context, fn):
    """Runs one call; a StatusError becomes its status, anything else INTERNAL (the handler's
    exception, named by type)."""
    try:
        return fn()
    except StatusError as e:
        context.abort(e.code, e.message)
    except Exception as e:  # The handler's: the unit was rolled back.
        log.warning("call failed: %s: %s", type(e).__name__, e)
        context.abort(grpc.StatusCode.INTERNAL,
                      "the participant's handler raised %s" % type(e).__name__)


class _ParticipantService(participant_pb2_grpc.ParticipantServicer):
    def __init__(self, protocol, name):
        self._p = protocol
        self._name = name

    def Prepare(self, request, context):
        def run():
            _edge.check_branch(request.txn_id, request.branch_id)
            deadline = _edge.deadline_micros(request)
            if request.HasField("three_phase"):
                _edge.check_three_phase(request.three_phase, request.branch_id)
            _edge.check_participant(self._name, request.participant)
            yes, reason = self._p.prepare(request.txn_id, request.branch_id, request.payload,
                                          deadline)
            return participant_pb2.PrepareResponse(
                vote=participant_pb2.VOTE_YES if yes else participant_pb2.VOTE_NO, reason=reason)
        return _answer(context, run)

    def _decide(self, request, context, commit, response):
        def run():
            _edge.check_branch(request.txn_id, request.branch_id)
            self._p.decide(request.txn_id, request.branch_id, commit)
            return response
        return _answer(context, run)

    def Commit(self, request, context):
        return self._decide(request, context, True, participant_pb2.CommitResponse())

    def Abort(self, request, context):
        return self._decide(request, context, False, participant_pb2.AbortResponse())

    def _step(self, request, context, compensate):
        def run():
            if self._p.handler.act is None or self._p.handler.compensate is None:
                raise StatusError(grpc.StatusCode.UNIMPLEMENTED,
                                  "this participant runs no saga steps (MODE_SAGA)")
            _edge.check_branch(request.txn_id, request.branch_id)
            _edge.check_participant(self._name, request.participant)
            run_step = self._p.compensate if compensate else self._p.act
            outcome, reason = run_step(request.txn_id, request.branch_id, request.payload)
            return participant_pb2.StepResponse(outcome=outcome, reason=reason)
        return _answer(context, run)

    def Act(self, request, context):
        return self._step(request, context, False)

    def Compensate(self, request, context):
        return self._step(request, context, True)

    def PreCommit(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED,
                      "this participant does not run three-phase commit (the Python SDK runs "
                      "two-phase commit, TCC and sagas)")

    def GetBranchState(self, request, context):
        def run():
            _edge.check_branch(request.txn_id, request.branch_id)
            return participant_pb2.BranchStateResponse(
                state=self._p.state(request.txn_id, request.branch_id))
        return _answer(context, run)

    def Batch(self, request, context):
        # The coordinator asks once with an empty batch; this answer sends it the unary calls.
        context.abort(grpc.StatusCode.UNIMPLEMENTED,
                      "this participant takes the unary calls (the Python SDK serves no batches)")


class _InspectService(participant_pb2_grpc.ParticipantInspectServicer):
    def __init__(self, store):
        self._store = store

    def ListBranches(self, request, context):
        def run():
            size = request.page_size or 100
            if not 1 <= size <= 1000:
                raise StatusError(grpc.StatusCode.INVALID_ARGUMENT,
                                  "page_size %d is out of range: 1 to 1000, or 0 for 100"
                                  % request.page_size)
            after = ("", -1)
            if request.page_token:
                txn, _, branch = request.page_token.rpartition("/")
                if len(branch) != 5 or not branch.isdigit() or _edge.shard_of(txn) is None:
                    raise StatusError(grpc.StatusCode.INVALID_ARGUMENT,
                                      "page_token %s was not returned by ListBranches; start "
                                      "without one" % _edge.echo(request.page_token))
                after = (txn, int(branch))
            rows = self._store.read(
                "SELECT txn_id, branch_id, state, updated_micros FROM settle_barrier "
                "WHERE (txn_id, branch_id) > (%s, %s) ORDER BY txn_id, branch_id LIMIT %s",
                (after[0], after[1], size + 1))
            out = participant_pb2.ListBranchesResponse()
            for txn_id, branch_id, state, updated in rows[:size]:
                b = out.branches.add(txn_id=txn_id, branch_id=branch_id, state=_STATE_NAMES[state])
                b.update_time.FromMicroseconds(updated)
            if len(rows) > size:
                out.next_page_token = _edge.barrier_key(rows[size - 1][0], rows[size - 1][1])
            return out
        return _answer(context, run)


class StartError(Exception):
    """The participant cannot start. `code` names why, as the C++ participants' exit codes do:
    INVALID_ARGUMENT (the DSN does not parse), PERMISSION_DENIED (the login is refused),
    FAILED_PRECONDITION (barrier tables that are not Settle's, or of a newer schema),
    UNAVAILABLE (no database answers)."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code


def _open_store(dsn, **options):
    try:
        return _store.Store(dsn, **options)
    except StatusError as e:
        raise StartError(e.code.name, e.message) from None
    except psycopg2.ProgrammingError as e:
        raise StartError("INVALID_ARGUMENT", "the DSN does not parse: %s" % e) from None
    except psycopg2.OperationalError as e:
        refused = "authentication failed" in str(e) or "no password" in str(e)
        raise StartError("PERMISSION_DENIED" if refused else "UNAVAILABLE",
                         str(e).strip().split("\n")[0]) from None


class Participant:
    """A Handler served as a participant. `dsn`: the service's PostgreSQL database (a libpq
    connection string or URI; the barrier tables are created there, or checked). `name`: the
    name the coordinator registers it under (calls naming another are refused). `coordinator`:
    host:port of the coordinator's DecisionService, or its shards (a list or a pattern,
    settle.shards: each id is asked at its own shard), asked about branches prepared longer than
    `in_doubt_after` seconds; None: they wait for the coordinator's own retries. TLS: PEM file
    paths, as the C++ binaries' --tls_* flags. Raises StartError when the database cannot be
    used. Thread-safe; start once."""

    def __init__(self, handler, dsn, name="", coordinator=None, pool_size=8, workers=16,
                 in_doubt_after=10.0, in_doubt_check_interval=2.0, lock_timeout_ms=5000,
                 tls_cert=None, tls_key=None, tls_ca=None, tls_client_auth=False):
        self._store = _open_store(dsn, pool_size=pool_size, lock_timeout_ms=lock_timeout_ms)
        self._protocol = _Protocol(handler, self._store)
        self._name = name
        self._tls = (tls_cert, tls_key, tls_ca, tls_client_auth)
        self._server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=workers))
        participant_pb2_grpc.add_ParticipantServicer_to_server(
            _ParticipantService(self._protocol, name), self._server)
        participant_pb2_grpc.add_ParticipantInspectServicer_to_server(
            _InspectService(self._store), self._server)
        self._decisions = None  # One DecisionService per shard: each id is asked at its own.
        if coordinator:
            self._shards = ShardMap(coordinator)
            creds = channel_credentials(tls_cert, tls_key, tls_ca)
            options = [("grpc.max_reconnect_backoff_ms", 2000)]  # A shard back is found soon.
            self._decisions = [coordinator_pb2_grpc.DecisionServiceStub(
                grpc.secure_channel(e, creds, options) if creds
                else grpc.insecure_channel(e, options)) for e in self._shards.endpoints]
        self._in_doubt_after_micros = int(in_doubt_after * 1e6)
        self._interval = in_doubt_check_interval
        self._stopping = threading.Event()
        self._resolver = threading.Thread(target=self._resolve_loop, name="settle-in-doubt",
                                          daemon=True)

    def connection(self):
        """A context manager: a connection of the SDK's pool to the service's database, for its
        own statements outside any call (creating its tables, say). Commits at the block's end."""
        return self._store.connection()

    def start(self, listen):
        """Listens on `listen` (host:port; port 0 picks one) and returns the port."""
        creds = server_credentials(*self._tls)
        port = (self._server.add_secure_port(listen, creds) if creds
                else self._server.add_insecure_port(listen))
        if port == 0:
            raise StatusError(grpc.StatusCode.UNAVAILABLE, "cannot listen on %s" % listen)
        self._server.start()
        self._resolver.start()
        return port

    def wait(self):
        self._server.wait_for_termination()

    def stop(self, grace=1.0):
        self._stopping.set()
        self._server.stop(grace).wait()
        self._store.close()

    def resolve_in_doubt_once(self):
        """Asks the coordinator about every two-phase branch prepared longer than in_doubt_after
        and applies what it decided; returns how many were resolved."""
        if self._decisions is None:
            return 0
        cutoff = _store.now_micros() - self._in_doubt_after_micros
        rows = self._store.read(
            "SELECT key, value FROM settle_kv WHERE space = %s AND key >= %s AND key < %s "
            "ORDER BY key LIMIT 1000",
            (_store.META_SPACE, b"p/", b"p0"))
        resolved = 0
        for key, value in rows:
            key = bytes(key).decode()[len(_store.PREPARED_PREFIX):]
            if int(bytes(value)) >= cutoff:
                continue
            txn_id, _, branch = key.rpartition("/")
            try:
                answer = self._decisions[self._shards.shard_of_txn_id(txn_id)].GetDecision(
                    coordinator_pb2.GetDecisionRequest(txn_id=txn_id), timeout=2.0)
            except ValueError as e:  # An id of no shard in the list: asked again, logged.
                log.warning("in-doubt branch %s: %s", key, e)
                continue
            except grpc.RpcError as e:
                log.warning("in-doubt branch %s: no decision: %s", key, e.code())
                continue
            if answer.decision not in (coordinator_pb2.DECISION_COMMIT,
                                       coordinator_pb2.DECISION_ABORT):
                continue
            commit = answer.decision == coordinator_pb2.DECISION_COMMIT
            try:
                self._protocol.decide(txn_id, int(branch), commit)
            except StatusError as e:
                log.warning("in-doubt branch %s: %s failed: %s", key,
                            "commit" if commit else "abort", e.message)
                continue
            log.info("in-doubt branch %s resolved: %s", key, "commit" if commit else "abort")
            resolved += 1
        return resolved

    def _resolve_loop(self):
        while not self._stopping.wait(self._interval):
            try:
                self.resolve_in_doubt_once()
            except StatusError as e:
                log.warning("cannot scan prepared branches: %s", e.message)
            except Exception as e:  # Never ends the loop; the next round tries again.
                log.warning("in-doubt round failed: %s: %s", type(e).__name__, e)
