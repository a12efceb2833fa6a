"""Settle's Python SDK: join payments as a participant (settle.Participant serving a
settle.Handler, the barrier in the service's PostgreSQL database) and start them as a caller
(settle.Client). See sdk/python/README.md."""

from settle.client import (AlreadyExists, Cancelled, Client, DeadlineExceeded, FailedPrecondition,
                           InvalidArgument, NotFound, PermissionDenied, ResourceExhausted, Result,
                           SettleError, Step, Unauthenticated, Unavailable)
from settle.handler import IN_PROGRESS, Branch, Handler, Refuse
from settle.participant import Participant, StartError

__all__ = [
    "AlreadyExists", "Branch", "Cancelled", "Client", "DeadlineExceeded", "FailedPrecondition", "Handler",
    "IN_PROGRESS", "InvalidArgument", "NotFound", "Participant", "PermissionDenied", "Refuse",
    "ResourceExhausted", "Result", "SettleError", "StartError", "Step", "Unauthenticated",
    "Unavailable",
]
