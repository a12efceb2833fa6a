// A payment API's handle on the coordinator: run transactions and look them up.
//
//   const client = new Client("127.0.0.1:7070"); // Or every shard: "a:7070,b:7070"
//   const result = await client.execute([{ participant: "points", payload }], "order-42");
//
// Every error is the coordinator's status (coordinator.proto) as a SettleError subclass that
// names it, e.g. AlreadyExists("ALREADY_EXISTS: idempotency_key 'order-42' ...").

import * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";

import type { CoordinatorClient } from "./gen/settle/v1/Coordinator";
import type { ExecuteResponse__Output } from "./gen/settle/v1/ExecuteResponse";
import type { Mode } from "./gen/settle/v1/Mode";
import type { RegistryClient } from "./gen/settle/v1/Registry";
import type { Transaction__Output } from "./gen/settle/v1/Transaction";
import { encode, settleV1 } from "./proto";
import { ShardMap } from "./shards";
import { TlsFiles, channelCredentials } from "./tls";

/** A call's status other than OK: `code` (grpc status) and the coordinator's `details`
 * (naming the field at fault for bad input); the message gives both. */
export class SettleError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
  ) {
    super(`${status[code]}: ${details}`);
    this.name = new.target.name;
  }
}
export class InvalidArgument extends SettleError {}
export class NotFound extends SettleError {}
export class AlreadyExists extends SettleError {}
export class FailedPrecondition extends SettleError {}
export class ResourceExhausted extends SettleError {}
export class PermissionDenied extends SettleError {}
export class Unauthenticated extends SettleError {}
export class Unavailable extends SettleError {}
export class DeadlineExceeded extends SettleError {}
/** The server stopped mid-call (a shard's restart); this client never cancels its own calls. */
export class Cancelled extends SettleError {}

const ERRORS: Partial<Record<status, typeof SettleError>> = {
  [status.INVALID_ARGUMENT]: InvalidArgument,
  [status.NOT_FOUND]: NotFound,
  [status.ALREADY_EXISTS]: AlreadyExists,
  [status.FAILED_PRECONDITION]: FailedPrecondition,
  [status.RESOURCE_EXHAUSTED]: ResourceExhausted,
  [status.PERMISSION_DENIED]: PermissionDenied,
  [status.UNAUTHENTICATED]: Unauthenticated,
  [status.UNAVAILABLE]: Unavailable,
  [status.DEADLINE_EXCEEDED]: DeadlineExceeded,
  [status.CANCELLED]: Cancelled,
};

/** The SettleError for a gRPC error. */
export function errorFrom(e: grpc.ServiceError): SettleError {
  const Kind = ERRORS[e.code] ?? SettleError;
  return new Kind(e.code, e.details ?? "");
}

/** One branch: a registered participant's name, its payload, and for a saga its step. */
export interface Step {
  participant: string;
  payload: Buffer;
  step?: number;
}

const MODES: Record<string, Mode> = {
  two_phase: "MODE_TWO_PHASE",
  tcc: "MODE_TWO_PHASE", // TCC runs in two-phase transactions.
  saga: "MODE_SAGA",
  three_phase: "MODE_THREE_PHASE",
};

/** An outcome (an abort is one, not an error). */
export interface Result {
  txnId: string;
  committed: boolean;
  /** This call repeated an earlier one with the same key. */
  replayed: boolean;
  refusedParticipant: string;
  reason: string;
  response: ExecuteResponse__Output;
}

export interface ExecuteOptions {
  /** Seconds the prepare phase may take (default 5). */
  timeout?: number;
  /** two_phase (default), tcc, saga or three_phase. */
  mode?: string;
  waitForAcks?: boolean;
  /** Attempts on UNAVAILABLE / DEADLINE_EXCEEDED / CANCELLED, the same key each time (default 5). */
  attempts?: number;
  callTimeoutMs?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
}

export interface ClientOptions extends TlsFiles {
  /** A bearer token for the coordinator's roles. */
  token?: string;
}

/** Calls to one coordinator at `target` (host:port), or to the shards of one deployment (a
 * list or a pattern, shards.ts): Execute and lookups by key go to the shard that owns the key,
 * everything about a transaction id to the id's shard. Share one. */
export class Client {
  private readonly shards: ShardMap;
  private readonly coordinators: CoordinatorClient[];
  private readonly registries: RegistryClient[];
  private readonly metadata = new grpc.Metadata();

  constructor(target: string, options: ClientOptions = {}) {
    try {
      this.shards = new ShardMap(target);
    } catch (e) {
      throw new InvalidArgument(status.INVALID_ARGUMENT, (e as Error).message);
    }
    const creds = channelCredentials(options) ?? grpc.credentials.createInsecure();
    // A shard back from a crash is found within two seconds, not gRPC's two minutes.
    const channelOptions = { "grpc.max_reconnect_backoff_ms": 2000 };
    this.coordinators = this.shards.endpoints.map((e) => new settleV1.Coordinator(e, creds, channelOptions));
    this.registries = this.coordinators.map(
      (c, i) => new settleV1.Registry(this.shards.endpoints[i], creds, { channelOverride: c.getChannel() }),
    );
    if (options.token) this.metadata.set("authorization", "Bearer " + options.token);
  }

  close(): void {
    for (const c of this.coordinators) c.close();
  }

  private call<Req, Res>(shard: number, client: grpc.Client, method: string, request: Req, timeoutMs: number): Promise<Res> {
    const fn = (client as unknown as Record<string, Function>)[method];
    return new Promise((resolve, reject) => {
      fn.call(client, request, this.metadata, { deadline: Date.now() + timeoutMs }, (e: grpc.ServiceError | null, r: Res) => {
        if (!e) return resolve(r);
        let err = errorFrom(e);
        if (this.coordinators.length > 1 &&
            (err instanceof Unavailable || err instanceof DeadlineExceeded || err instanceof Cancelled)) {
          // Only that shard's keys wait: say which.
          const Kind = err.constructor as typeof SettleError;
          err = new Kind(err.code, `shard s${shard} (${this.shards.endpoints[shard]}): ${err.details}`);
        }
        reject(err);
      });
    });
  }

  private byId(txnId: string): number {
    try {
      return this.shards.shardOfTxnId(txnId);
    } catch (e) {
      throw new InvalidArgument(status.INVALID_ARGUMENT, (e as Error).message);
    }
  }

  /** Runs one transaction to its outcome. UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED are retried with
   * the same key, which is safe: a repeat returns the first outcome. */
  async execute(branches: Step[], idempotencyKey: string, options: ExecuteOptions = {}): Promise<Result> {
    const mode = MODES[options.mode ?? "two_phase"];
    if (!mode) {
      throw new InvalidArgument(status.INVALID_ARGUMENT, `mode '${options.mode}' is not one of ${Object.keys(MODES).join(", ")}`);
    }
    const micros = Math.round((options.timeout ?? 5) * 1e6);
    const request = {
      idempotency_key: idempotencyKey,
      branches: branches.map((b) => ({ participant: b.participant, payload: b.payload, step: b.step ?? 0 })),
      timeout: { seconds: String(Math.floor(micros / 1e6)), nanos: (micros % 1e6) * 1000 },
      mode,
      wait_for_acks: options.waitForAcks ?? false,
    };
    const shard = this.shards.shardOfKey(idempotencyKey);
    const attempts = options.attempts ?? 5;
    let delay = options.backoffMs ?? 100;
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.call<typeof request, ExecuteResponse__Output>(
          shard, this.coordinators[shard], "Execute", request, options.callTimeoutMs ?? 30000);
        return {
          txnId: r.txn_id,
          committed: r.outcome === "OUTCOME_COMMITTED",
          replayed: r.replayed,
          refusedParticipant: r.refused_participant,
          reason: r.reason,
          response: r,
        };
      } catch (e) {
        const retried = e instanceof Unavailable || e instanceof DeadlineExceeded || e instanceof Cancelled;
        if (!retried || attempt >= attempts) throw e;
      }
      await new Promise((r) => setTimeout(r, delay)); // Client-side backoff between attempts.
      delay = Math.min(delay * 2, options.maxBackoffMs ?? 2000);
    }
  }

  /** The reference payment: moves amountMinor between accounts at balance, journals both legs
   * at ledger and queues a receipt at notification (reference.proto). */
  transfer(from: string, to: string, amountMinor: number, idempotencyKey: string, options: ExecuteOptions = {}) {
    const balance = encode("BalancePayload", {
      postings: [
        { account: from, amount_minor: -amountMinor },
        { account: to, amount_minor: amountMinor },
      ],
    });
    const ledger = encode("LedgerPayload", {
      lines: [
        { account: to, debit_minor: amountMinor },
        { account: from, credit_minor: amountMinor },
      ],
      memo: "transfer " + idempotencyKey,
    });
    const note = encode("NotificationPayload", {
      recipient: from,
      topic: "payment.settled",
      body: Buffer.from(JSON.stringify({ from, to, amount_minor: amountMinor })),
    });
    return this.execute(
      [
        { participant: "balance", payload: balance },
        { participant: "ledger", payload: ledger },
        { participant: "notification", payload: note },
      ],
      idempotencyKey,
      options,
    );
  }

  /** The transaction by id or by idempotency key. */
  getTransaction(lookup: { txnId: string } | { idempotencyKey: string }, timeoutMs = 10000): Promise<Transaction__Output> {
    const byId = "txnId" in lookup;
    const shard = byId ? this.byId(lookup.txnId) : this.shards.shardOfKey(lookup.idempotencyKey);
    const request = byId ? { txn_id: lookup.txnId } : { idempotency_key: lookup.idempotencyKey };
    return this.call(shard, this.coordinators[shard], "GetTransaction", request, timeoutMs);
  }

  abortTransaction(txnId: string, reason: string, timeoutMs = 10000) {
    const shard = this.byId(txnId);
    return this.call(shard, this.coordinators[shard], "AbortTransaction", { txn_id: txnId, reason }, timeoutMs);
  }

  /** Registers at every shard (each calls every participant); running it again is safe. */
  async registerParticipant(name: string, endpoint: string, timeoutMs = 10000) {
    let answer: unknown;
    for (let shard = 0; shard < this.registries.length; shard++) {
      answer = await this.call(shard, this.registries[shard], "RegisterParticipant", { name, endpoint }, timeoutMs);
    }
    return answer;
  }
}
