"""What a service implements to take part in Settle's transactions: its domain logic only. The
SDK (settle.participant) keeps the barrier, the protocol's rules and the in-doubt resolution."""

import collections

# One branch of one transaction: (txn_id, branch_id) is unique.
Branch = collections.namedtuple("Branch", ["txn_id", "branch_id"])


class Refuse(Exception):
    """Raised by prepare (a NO vote), act (the action refused: the saga compensates) or compensate
    (it cannot be undone: the saga is parked for an operator). The handler's statements of this
    call are rolled back; the barrier keeps the answer, so a duplicate gets the same one."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


# Returned by act or compensate: accepted, the outcome comes later (the coordinator asks again;
# the handler looks at its pending work then). Its statements are kept.
IN_PROGRESS = object()


class Handler:
    """A participant's domain logic. Each method runs inside the call's SQL transaction and writes
    through `cur` (a psycopg2 cursor of it); the SDK commits it together with the barrier row, so
    the change and the record of it land together or not at all. Never commit or roll back on
    `cur`'s connection. Methods run on the server's threads, several at once.

    Two-phase commit and TCC (Try = prepare, Confirm = commit, Cancel = abort):
      prepare: return to vote YES (the reservation is made and durable when the call ends);
               raise Refuse(reason) to vote NO.
      commit / abort: apply or release the reservation; `payload` is the one prepare got. Called
               once per branch whatever the duplicates. Raising makes the coordinator retry.
    Sagas (MODE_SAGA):
      act: return to report the action done; raise Refuse for a refusal; return IN_PROGRESS.
      compensate: undo it; raise Refuse when it can never be undone; return IN_PROGRESS.
    A handler without act and compensate answers UNIMPLEMENTED to saga steps."""

    def prepare(self, branch, payload, cur):
        raise NotImplementedError

    def commit(self, branch, payload, cur):
        raise NotImplementedError

    def abort(self, branch, payload, cur):
        raise NotImplementedError

    act = None
    compensate = None
