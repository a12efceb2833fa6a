// What a service implements to take part in Settle's transactions: its domain logic only. The
// SDK (participant.ts) keeps the barrier, the protocol's rules and the in-doubt resolution.

import type { PoolClient } from "pg";

/** One branch of one transaction: (txnId, branchId) is unique. */
export interface Branch {
  txnId: string;
  branchId: number;
}

/** Thrown by prepare (a NO vote), act (the action refused: the saga compensates) or compensate
 * (it cannot be undone: the saga is parked for an operator). The handler's statements of this
 * call are rolled back; the barrier keeps the answer, so a duplicate gets the same one. */
export class Refuse extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** Returned by act or compensate: accepted, the outcome comes later (the coordinator asks
 * again). Its statements are kept. */
export const IN_PROGRESS = Symbol("settle.IN_PROGRESS");

/**
 * A participant's domain logic. Each method runs inside the call's SQL transaction and writes
 * through `sql` (its pg client); the SDK commits it together with the barrier row, so the change
 * and the record of it land together or not at all. Never COMMIT or ROLLBACK on `sql`. Several
 * calls run at once, each on its own connection.
 *
 * Two-phase commit and TCC (Try = prepare, Confirm = commit, Cancel = abort):
 *   prepare: resolve to vote YES; throw Refuse(reason) to vote NO.
 *   commit / abort: apply or release the reservation; `payload` is the one prepare got. Called
 *     once per branch whatever the duplicates. Throwing makes the coordinator retry.
 * Sagas (MODE_SAGA), optional: act / compensate resolve for done, throw Refuse for refused,
 *   resolve to IN_PROGRESS to be asked again. Without them, saga steps answer UNIMPLEMENTED.
 */
export interface Handler {
  prepare(branch: Branch, payload: Buffer, sql: PoolClient): Promise<void>;
  commit(branch: Branch, payload: Buffer, sql: PoolClient): Promise<void>;
  abort(branch: Branch, payload: Buffer, sql: PoolClient): Promise<void>;
  act?(branch: Branch, payload: Buffer, sql: PoolClient): Promise<void | typeof IN_PROGRESS>;
  compensate?(branch: Branch, payload: Buffer, sql: PoolClient): Promise<void | typeof IN_PROGRESS>;
}
