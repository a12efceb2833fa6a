// Settle's TypeScript SDK: join payments as a participant (Participant serving a Handler, the
// barrier in the service's PostgreSQL database) and start them as a caller (Client). See
// sdk/node/README.md.

export {AlreadyExists, Cancelled, Client, ClientOptions, DeadlineExceeded, errorFrom, ExecuteOptions, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, ResourceExhausted, Result, SettleError, Step, Unauthenticated, Unavailable,} from './client';
export {StatusError} from './edge';
export {Branch, Handler, IN_PROGRESS, Refuse} from './handler';
export {Participant, ParticipantOptions, StartError} from './participant';
export {encode} from './proto';
export {ShardMap, shardOfSlot, slotOfKey} from './shards';
