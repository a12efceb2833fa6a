// The edge checks every Settle SDK makes before any work: the same rules and the same messages
// as the C++ SDK (client/barrier.cc, client/three_phase.cc) and the Python one, so the contract
// kit reads them alike.

import { status } from "@grpc/grpc-js";

export const MAX_BRANCH_ID = 1023;
const SHARD = /^[a-z0-9]{1,16}$/;
const HEX16 = /^[0-9a-fA-F]{16}$/;
// Timestamp's valid range: years 1 to 9999.
const MIN_SECONDS = -62135596800;
const MAX_SECONDS = 253402300799;

/** A call's answer other than OK: a gRPC status code and a message for a person. */
export class StatusError extends Error {
  constructor(readonly code: status, message: string) {
    super(message);
  }
}

function cHexEscape(raw: Buffer): string {
  let out = "";
  for (const b of raw) {
    const c = String.fromCharCode(b);
    if (c === "\n") out += "\\n";
    else if (c === "\r") out += "\\r";
    else if (c === "\t") out += "\\t";
    else if (c === "'" || c === '"' || c === "\\") out += "\\" + c;
    else if (b >= 0x20 && b < 0x7f) out += c;
    else out += "\\x" + b.toString(16).padStart(2, "0");
  }
  return out;
}

/** A value from a request as an error message shows it: a short, escaped prefix. */
export function echo(value: string | Buffer, maxBytes = 64): string {
  const raw = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  if (raw.length <= maxBytes) return `'${cHexEscape(raw)}'`;
  return `'${cHexEscape(raw.subarray(0, maxBytes))}...' (${raw.length} bytes)`;
}

/** The shard of a Settle transaction id (<shard>-<16 hex digits>), or undefined. */
export function shardOf(txnId: string): string | undefined {
  const dash = txnId.lastIndexOf("-");
  if (dash <= 0 || !HEX16.test(txnId.slice(dash + 1))) return undefined;
  const shard = txnId.slice(0, dash);
  return SHARD.test(shard) ? shard : undefined;
}

export function checkBranch(txnId: string, branchId: number): void {
  if (!txnId) throw new StatusError(status.INVALID_ARGUMENT, "txn_id is required and was empty");
  if (Buffer.byteLength(txnId) > 64 || shardOf(txnId) === undefined) {
    throw new StatusError(
      status.INVALID_ARGUMENT,
      `txn_id ${echo(txnId)} is not a Settle transaction id (<shard>-<16 hex digits>)`,
    );
  }
  if (branchId > MAX_BRANCH_ID) {
    throw new StatusError(
      status.INVALID_ARGUMENT,
      `branch_id ${branchId} is out of range: at most ${MAX_BRANCH_ID}`,
    );
  }
}

export interface Timestamp {
  seconds?: string | number | null;
  nanos?: number | null;
}

/** A Prepare's deadline in Unix microseconds; INVALID_ARGUMENT naming it when missing or bad. */
export function deadlineMicros(deadline: Timestamp | null | undefined): number {
  if (!deadline) throw new StatusError(status.INVALID_ARGUMENT, "deadline is required");
  const seconds = Number(deadline.seconds ?? 0);
  const nanos = deadline.nanos ?? 0;
  if (!(nanos >= 0 && nanos <= 999999999 && seconds >= MIN_SECONDS && seconds <= MAX_SECONDS)) {
    throw new StatusError(
      status.INVALID_ARGUMENT,
      `deadline is not a valid Timestamp (seconds ${deadline.seconds}, nanos ${nanos}): nanos ` +
        "must be 0 to 999999999 and the time between years 1 and 9999",
    );
  }
  return seconds * 1000000 + Math.floor(nanos / 1000);
}

export interface ThreePhaseLike {
  timeout?: Timestamp | null;
  peers?: { branch_id?: number }[];
}

export function checkThreePhase(three: ThreePhaseLike, ownBranch: number): void {
  const t = three.timeout;
  const seconds = Number(t?.seconds ?? 0);
  const nanos = t?.nanos ?? 0;
  const micros = seconds * 1000000 + Math.floor(nanos / 1000);
  if (!t || seconds < 0 || nanos < 0 || nanos > 999999999 || micros < 1000 || micros > 3600e6) {
    throw new StatusError(
      status.INVALID_ARGUMENT,
      `three_phase.timeout must be a valid Duration of 1ms to 1h (seconds ${seconds}, nanos ` +
        `${nanos})`,
    );
  }
  const seen = new Set<number>();
  for (const p of three.peers ?? []) {
    const id = p.branch_id ?? 0;
    if (id === ownBranch || id > MAX_BRANCH_ID || seen.has(id)) {
      throw new StatusError(
        status.INVALID_ARGUMENT,
        `three_phase.peers names branch ${id} twice, out of range, or this branch itself`,
      );
    }
    seen.add(id);
  }
}

/** A call meant for another participant: the coordinator's registration points here by
 * mistake. A call that names none (a tool's, a test's) is taken as meant here. */
export function checkParticipant(expected: string, named: string): void {
  if (!expected || !named || named === expected) return;
  throw new StatusError(
    status.FAILED_PRECONDITION,
    `participant ${echo(named)} is not this service ('${expected}'); the coordinator's ` +
      "registration of that name points here by mistake",
  );
}

/** The SDKs' key of a branch: "<txn_id>/<branch_id, 5 digits>" (settle_kv's indexes). */
export function barrierKey(txnId: string, branchId: number): string {
  return `${txnId}/${String(branchId).padStart(5, "0")}`;
}
