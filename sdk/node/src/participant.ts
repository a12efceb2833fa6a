// Serves a Handler as a Settle participant: the Participant gRPC service (participant.proto's
// result contract), the barrier in the service's PostgreSQL database, and the in-doubt resolver.
//
//   const p = await Participant.open(new Points(), { dsn, name: "points", coordinator });
//   const port = await p.start("127.0.0.1:7301");
//
// Runs two-phase commit, TCC and sagas. Three-phase commit is the C++ SDK's only: a three-phase
// Prepare is held like a two-phase one (resolved through GetDecision) and PreCommit answers
// UNIMPLEMENTED, which the coordinator reads as a refusal: such a transaction aborts.

import * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";

import * as edge from "./edge";
import { StatusError } from "./edge";
import type { ParticipantHandlers } from "./gen/settle/v1/Participant";
import type { ParticipantInspectHandlers } from "./gen/settle/v1/ParticipantInspect";
import type { DecisionServiceClient } from "./gen/settle/v1/DecisionService";
import type { StepOutcome } from "./gen/settle/v1/StepOutcome";
import type { BarrierState } from "./gen/settle/v1/BarrierState";
import { Branch, Handler, IN_PROGRESS, Refuse } from "./handler";
import { settleV1 } from "./proto";
import { ShardMap } from "./shards";
import { Barrier, BarrierStateName, META_SPACE, PREPARED_PREFIX, Store, Unit, nowMicros } from "./store";
import { TlsFiles, channelCredentials, serverCredentials } from "./tls";

const STATE_NAMES: Record<BarrierStateName, BarrierState> = {
  prepared: "BARRIER_STATE_PREPARED",
  precommitted: "BARRIER_STATE_PRECOMMITTED",
  committed: "BARRIER_STATE_COMMITTED",
  aborted: "BARRIER_STATE_ABORTED",
  compensating: "BARRIER_STATE_COMPENSATING",
};

type Step = { outcome: StepOutcome; reason: string };

/** The barrier's rules, one SQL transaction per call; the same as the C++ and Python SDKs'. */
class Protocol {
  constructor(
    readonly handler: Handler,
    readonly store: Store,
  ) {}

  prepare(txnId: string, branchId: number, payload: Buffer, deadline: number) {
    return this.store.run(async (unit): Promise<[boolean, string]> => {
      const b = await unit.readBarrier(txnId, branchId);
      if (b.exists) {
        // A duplicate or late Prepare gets the answer the first one got; nothing changes.
        if (b.state === "prepared" || b.state === "committed") return [true, ""];
        return [
          false,
          b.tombstone
            ? "the branch was aborted before this Prepare arrived"
            : "the branch was already refused or aborted",
        ];
      }
      if (unit.now > deadline) return [false, "the Prepare arrived after the transaction's deadline"];
      try {
        await unit.staged(() => this.handler.prepare({ txnId, branchId }, payload, unit.sql));
      } catch (e) {
        if (!(e instanceof Refuse)) throw e;
        // Recorded so a duplicate Prepare repeats the NO instead of reserving anew.
        await unit.writeBarrier(txnId, branchId, b, "aborted");
        return [false, e.reason];
      }
      await unit.writeBarrier(txnId, branchId, b, "prepared", { payload, preparedMicros: unit.now });
      await unit.markPrepared(edge.barrierKey(txnId, branchId));
      return [true, ""];
    });
  }

  decide(txnId: string, branchId: number, commit: boolean): Promise<void> {
    const key = edge.barrierKey(txnId, branchId);
    return this.store.run(async (unit) => {
      const b = await unit.readBarrier(txnId, branchId);
      if (!b.exists) {
        if (commit) {
          throw new StatusError(
            status.FAILED_PRECONDITION,
            `branch ${key} was never prepared here; a Commit for it breaks the protocol`,
          );
        }
        // Abort before Prepare: the tombstone makes a late Prepare vote NO.
        await unit.writeBarrier(txnId, branchId, b, "aborted", { tombstone: true });
        return;
      }
      const done = commit ? "committed" : "aborted";
      if (b.state === done) return; // A duplicate: one effect only.
      if (b.state !== "prepared" && b.state !== "precommitted") {
        throw new StatusError(
          status.FAILED_PRECONDITION,
          `branch ${key} is already ${b.state}; it cannot be ${done}`,
        );
      }
      const branch: Branch = { txnId, branchId };
      await (commit ? this.handler.commit(branch, b.payload, unit.sql) : this.handler.abort(branch, b.payload, unit.sql));
      await unit.writeBarrier(txnId, branchId, b, done, { preparedMicros: b.preparedMicros });
      await unit.unmarkPrepared(key);
    });
  }

  act(txnId: string, branchId: number, payload: Buffer): Promise<Step> {
    return this.store.run(async (unit) => {
      const b = await unit.readBarrier(txnId, branchId);
      if (b.exists) {
        if (b.state === "committed") return { outcome: "STEP_DONE", reason: "" }; // A duplicate.
        if (b.state !== "prepared") {
          // Prepared: in progress, the handler looks at its pending work again.
          return {
            outcome: "STEP_REFUSED",
            reason: b.tombstone ? "compensated before this action arrived" : "refused or compensated already",
          };
        }
      }
      return this.step(unit, b, txnId, branchId, payload, this.handler.act!, {
        done: "committed",
        inProgress: "prepared",
        refused: "aborted",
      });
    });
  }

  compensate(txnId: string, branchId: number, payload: Buffer): Promise<Step> {
    return this.store.run(async (unit) => {
      const b = await unit.readBarrier(txnId, branchId);
      if (!b.exists) {
        // Before its action: nothing to undo, and the action must never run now.
        await unit.writeBarrier(txnId, branchId, b, "aborted", { tombstone: true });
        return { outcome: "STEP_DONE", reason: "" };
      }
      if (b.state === "aborted") return { outcome: "STEP_DONE", reason: "" };
      // Refused: unchanged, the saga parks and an operator may retry.
      return this.step(unit, b, txnId, branchId, payload, this.handler.compensate!, {
        done: "aborted",
        inProgress: "compensating",
        refused: null,
      });
    });
  }

  private async step(
    unit: Unit,
    b: Barrier,
    txnId: string,
    branchId: number,
    payload: Buffer,
    fn: NonNullable<Handler["act"]>,
    states: { done: BarrierStateName; inProgress: BarrierStateName; refused: BarrierStateName | null },
  ): Promise<Step> {
    let next: BarrierStateName | null;
    let answer: Step;
    try {
      const r = await unit.staged(() => fn.call(this.handler, { txnId, branchId }, payload, unit.sql));
      next = r === IN_PROGRESS ? states.inProgress : states.done;
      answer = { outcome: r === IN_PROGRESS ? "STEP_IN_PROGRESS" : "STEP_DONE", reason: "" };
    } catch (e) {
      if (!(e instanceof Refuse)) throw e;
      next = states.refused;
      answer = { outcome: "STEP_REFUSED", reason: e.reason };
    }
    if (next !== null) await unit.writeBarrier(txnId, branchId, b, next);
    return answer;
  }

  async state(txnId: string, branchId: number): Promise<BarrierState> {
    const rows = await this.store.read(
      "SELECT state FROM settle_barrier WHERE txn_id = $1 AND branch_id = $2",
      [txnId, branchId],
    );
    return rows.length ? STATE_NAMES[rows[0].state as BarrierStateName] : "BARRIER_STATE_UNSPECIFIED";
  }
}

/** Answers one unary call with what `run` resolves to; a StatusError becomes its status,
 * anything else INTERNAL (the handler's error, named by type). */
function unary<Req, Res>(run: (request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    run(call.request).then(
      (response) => callback(null, response),
      (e: unknown) => {
        if (e instanceof StatusError) return callback({ code: e.code, details: e.message });
        const name = e instanceof Error ? e.constructor.name : typeof e;
        console.warn(`settle: call failed: ${name}: ${e instanceof Error ? e.message : e}`);
        callback({ code: status.INTERNAL, details: `the participant's handler raised ${name}` });
      },
    );
  };
}

export interface ParticipantOptions extends TlsFiles {
  /** The service's PostgreSQL database, a postgres:// or postgresql:// URI (a socket folder as
   * ?host=/path); the barrier tables are created there, or checked. */
  dsn: string;
  /** The name the coordinator registers it under; calls naming another are refused. */
  name?: string;
  /** host:port of the coordinator's DecisionService, or its shards (a list or a pattern,
   * shards.ts: each id is asked at its own shard), asked about branches prepared longer than
   * inDoubtAfterMs; none: they wait for the coordinator's own retries. */
  coordinator?: string;
  poolSize?: number;
  inDoubtAfterMs?: number;
  inDoubtCheckIntervalMs?: number;
  lockTimeoutMs?: number;
}

/** The participant cannot start. `code` names why, as the C++ participants' exit codes do:
 * INVALID_ARGUMENT (the DSN does not parse), PERMISSION_DENIED (the login is refused),
 * FAILED_PRECONDITION (barrier tables not Settle's, or newer), UNAVAILABLE (no database). */
export class StartError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** A Handler served as a participant. Open once, start once. */
export class Participant {
  private readonly server = new grpc.Server();
  private decisions?: DecisionServiceClient[]; // One per shard: each id is asked at its own.
  private shards?: ShardMap;
  private timer?: NodeJS.Timeout;
  private resolving = false;

  private constructor(
    private readonly protocol: Protocol,
    private readonly options: ParticipantOptions,
  ) {
    const name = options.name ?? "";
    const p = protocol;
    const handlers: ParticipantHandlers = {
      Prepare: unary(async (req) => {
        edge.checkBranch(req.txn_id, req.branch_id);
        const deadline = edge.deadlineMicros(req.deadline);
        if (req.three_phase) edge.checkThreePhase(req.three_phase, req.branch_id);
        edge.checkParticipant(name, req.participant);
        const [yes, reason] = await p.prepare(req.txn_id, req.branch_id, req.payload, deadline);
        return { vote: yes ? "VOTE_YES" : "VOTE_NO", reason };
      }),
      Commit: unary(async (req) => {
        edge.checkBranch(req.txn_id, req.branch_id);
        await p.decide(req.txn_id, req.branch_id, true);
        return {};
      }),
      Abort: unary(async (req) => {
        edge.checkBranch(req.txn_id, req.branch_id);
        await p.decide(req.txn_id, req.branch_id, false);
        return {};
      }),
      Act: unary((req) => this.step(req, false)),
      Compensate: unary((req) => this.step(req, true)),
      PreCommit: unary(async () => {
        throw new StatusError(
          status.UNIMPLEMENTED,
          "this participant does not run three-phase commit (the TypeScript SDK runs two-phase " +
            "commit, TCC and sagas)",
        );
      }),
      GetBranchState: unary(async (req) => {
        edge.checkBranch(req.txn_id, req.branch_id);
        return { state: await p.state(req.txn_id, req.branch_id) };
      }),
      // The coordinator asks once with an empty batch; this answer sends it the unary calls.
      Batch: unary(async () => {
        throw new StatusError(
          status.UNIMPLEMENTED,
          "this participant takes the unary calls (the TypeScript SDK serves no batches)",
        );
      }),
    };
    this.server.addService(settleV1.Participant.service, handlers);
    const inspect: ParticipantInspectHandlers = {
      ListBranches: unary(async (req) => listBranches(p.store, req.page_size, req.page_token)),
    };
    this.server.addService(settleV1.ParticipantInspect.service, inspect);
    if (options.coordinator) {
      const creds = channelCredentials(options) ?? grpc.credentials.createInsecure();
      this.shards = new ShardMap(options.coordinator);
      const channelOptions = { "grpc.max_reconnect_backoff_ms": 2000 }; // A shard back is found soon.
      this.decisions = this.shards.endpoints.map((e) => new settleV1.DecisionService(e, creds, channelOptions));
    }
  }

  private async step(req: { txn_id: string; branch_id: number; participant: string; payload: Buffer }, compensate: boolean) {
    if (!this.protocol.handler.act || !this.protocol.handler.compensate) {
      throw new StatusError(status.UNIMPLEMENTED, "this participant runs no saga steps (MODE_SAGA)");
    }
    edge.checkBranch(req.txn_id, req.branch_id);
    edge.checkParticipant(this.options.name ?? "", req.participant);
    return (compensate ? this.protocol.compensate : this.protocol.act).call(
      this.protocol,
      req.txn_id,
      req.branch_id,
      req.payload,
    );
  }

  /** Opens the database (creating or checking the barrier tables); StartError when it cannot. */
  static async open(handler: Handler, options: ParticipantOptions): Promise<Participant> {
    if (!/^postgres(ql)?:\/\//.test(options.dsn)) {
      throw new StartError("INVALID_ARGUMENT", "the DSN must be a postgres:// or postgresql:// URI");
    }
    let store: Store;
    try {
      store = await Store.open(options.dsn, {
        poolSize: options.poolSize,
        lockTimeoutMs: options.lockTimeoutMs,
      });
    } catch (e) {
      if (e instanceof StatusError) throw new StartError(status[e.code], e.message);
      const message = e instanceof Error ? e.message : String(e);
      const code = (e as { code?: string }).code;
      if (e instanceof TypeError || /Invalid URL|invalid connection/i.test(message)) {
        throw new StartError("INVALID_ARGUMENT", `the DSN does not parse: ${message}`);
      }
      const refused = code === "28P01" || code === "28000";
      throw new StartError(refused ? "PERMISSION_DENIED" : "UNAVAILABLE", message);
    }
    return new Participant(new Protocol(handler, store), options);
  }

  /** A pooled connection for the service's own statements outside any call; release it. */
  connect() {
    return this.protocol.store.connect();
  }

  /** Listens on `listen` (host:port; port 0 picks one); resolves to the port. */
  start(listen: string): Promise<number> {
    const creds = serverCredentials(this.options) ?? grpc.ServerCredentials.createInsecure();
    return new Promise((resolve, reject) => {
      this.server.bindAsync(listen, creds, (error, port) => {
        if (error) return reject(new StartError("UNAVAILABLE", `cannot listen on ${listen}: ${error.message}`));
        this.timer = setInterval(() => {
          if (this.resolving) return;
          this.resolving = true;
          this.resolveInDoubtOnce()
            .catch((e) => console.warn(`settle: in-doubt round failed: ${e}`))
            .finally(() => (this.resolving = false));
        }, this.options.inDoubtCheckIntervalMs ?? 2000);
        resolve(port);
      });
    });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    for (const d of this.decisions ?? []) d.close();
    await this.protocol.store.close();
  }

  /** Asks the coordinator about every two-phase branch prepared longer than inDoubtAfterMs and
   * applies what it decided; resolves to how many were resolved. */
  async resolveInDoubtOnce(): Promise<number> {
    const decisions = this.decisions;
    if (!decisions) return 0;
    const cutoff = nowMicros() - (this.options.inDoubtAfterMs ?? 10000) * 1000;
    const rows = await this.protocol.store.read(
      "SELECT key, value FROM settle_kv WHERE space = $1 AND key >= $2 AND key < $3 ORDER BY key " +
        "LIMIT 1000",
      [META_SPACE, Buffer.from("p/"), Buffer.from("p0")],
    );
    let resolved = 0;
    for (const row of rows) {
      const key = (row.key as Buffer).toString().slice(PREPARED_PREFIX.length);
      if (Number((row.value as Buffer).toString()) >= cutoff) continue;
      const slash = key.lastIndexOf("/");
      const txnId = key.slice(0, slash);
      const branch = Number(key.slice(slash + 1));
      let shard: number;
      try {
        shard = this.shards!.shardOfTxnId(txnId);
      } catch (e) {
        console.warn(`settle: in-doubt branch ${key}: ${(e as Error).message}`); // Asked again later.
        continue;
      }
      const decision = await new Promise<string | undefined>((resolve) =>
        decisions[shard].GetDecision({ txn_id: txnId }, { deadline: Date.now() + 2000 }, (e, r) =>
          resolve(e ? undefined : (r?.decision as string)),
        ),
      );
      if (decision !== "DECISION_COMMIT" && decision !== "DECISION_ABORT") continue;
      const commit = decision === "DECISION_COMMIT";
      try {
        await this.protocol.decide(txnId, branch, commit);
        resolved++;
      } catch (e) {
        console.warn(`settle: in-doubt branch ${key}: ${commit ? "commit" : "abort"} failed: ${e}`);
      }
    }
    return resolved;
  }
}

async function listBranches(store: Store, pageSize: number, pageToken: string) {
  const size = pageSize || 100;
  if (size < 1 || size > 1000) {
    throw new StatusError(status.INVALID_ARGUMENT, `page_size ${pageSize} is out of range: 1 to 1000, or 0 for 100`);
  }
  let after: [string, number] = ["", -1];
  if (pageToken) {
    const slash = pageToken.lastIndexOf("/");
    const txn = pageToken.slice(0, slash);
    const branch = pageToken.slice(slash + 1);
    if (slash < 0 || !/^[0-9]{5}$/.test(branch) || edge.shardOf(txn) === undefined) {
      throw new StatusError(
        status.INVALID_ARGUMENT,
        `page_token ${edge.echo(pageToken)} was not returned by ListBranches; start without one`,
      );
    }
    after = [txn, Number(branch)];
  }
  const rows = await store.read(
    "SELECT txn_id, branch_id, state, updated_micros FROM settle_barrier WHERE (txn_id, branch_id) > " +
      "($1, $2) ORDER BY txn_id, branch_id LIMIT $3",
    [after[0], after[1], size + 1],
  );
  const page = rows.slice(0, size);
  return {
    branches: page.map((r) => {
      const micros = Number(r.updated_micros);
      return {
        txn_id: r.txn_id,
        branch_id: r.branch_id,
        state: STATE_NAMES[r.state as BarrierStateName],
        update_time: { seconds: String(Math.floor(micros / 1e6)), nanos: (micros % 1e6) * 1000 },
      };
    }),
    next_page_token: rows.length > size ? edge.barrierKey(page[size - 1].txn_id, page[size - 1].branch_id) : "",
  };
}
