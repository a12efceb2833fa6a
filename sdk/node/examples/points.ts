// A loyalty-points participant on PostgreSQL: the TypeScript SDK's example service, the same as
// the Python SDK's (sdk/python/examples/points.py), flags and all.
//
// A branch's payload is JSON {"account": "alice", "points": -50}: negative spends (held at
// prepare, taken at commit, released at abort), positive earns (credited at commit). In a saga
// the action applies it at once and the compensation applies the inverse.
//
//   node dist/examples/points.js --dsn postgresql://... --listen 127.0.0.1:7301 \
//     --coordinator 127.0.0.1:7070 --open alice=500

import * as fs from "node:fs";
import { parseArgs } from "node:util";

import type { PoolClient } from "pg";

import { Branch, Handler, Participant, Refuse, StartError } from "../src";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS points_accounts (
  account   text PRIMARY KEY,
  available bigint NOT NULL CHECK (available >= 0),
  held      bigint NOT NULL DEFAULT 0 CHECK (held >= 0)
)`;

function parse(payload: Buffer): [string, number] {
  try {
    const op = JSON.parse(payload.toString("utf8"));
    if (typeof op.account === "string" && op.account && Number.isInteger(op.points) && op.points !== 0) {
      return [op.account, op.points];
    }
  } catch {
    // Refused below.
  }
  throw new Refuse('the payload is not {"account": "<name>", "points": <non-zero integer>}');
}

async function credit(sql: PoolClient, account: string, points: number) {
  await sql.query(
    "INSERT INTO points_accounts VALUES ($1, $2) ON CONFLICT (account) DO UPDATE " +
      "SET available = points_accounts.available + EXCLUDED.available",
    [account, points],
  );
}

async function debit(sql: PoolClient, account: string, points: number, column = "available") {
  const r = await sql.query(
    `UPDATE points_accounts SET ${column} = ${column} - $1 WHERE account = $2 AND ${column} >= $1`,
    [points, account],
  );
  if (r.rowCount !== 1) throw new Refuse(`insufficient points in ${account}`);
}

class Points implements Handler {
  async prepare(_b: Branch, payload: Buffer, sql: PoolClient) {
    const [account, points] = parse(payload);
    if (points < 0) {
      await debit(sql, account, -points);
      await sql.query("UPDATE points_accounts SET held = held + $1 WHERE account = $2", [-points, account]);
    }
  }
  async commit(_b: Branch, payload: Buffer, sql: PoolClient) {
    const [account, points] = parse(payload);
    if (points < 0) await debit(sql, account, -points, "held");
    else await credit(sql, account, points);
  }
  async abort(_b: Branch, payload: Buffer, sql: PoolClient) {
    const [account, points] = parse(payload);
    if (points < 0) {
      await debit(sql, account, -points, "held");
      await credit(sql, account, -points);
    }
  }
  async act(_b: Branch, payload: Buffer, sql: PoolClient) {
    const [account, points] = parse(payload);
    if (points < 0) await debit(sql, account, -points);
    else await credit(sql, account, points);
  }
  async compensate(_b: Branch, payload: Buffer, sql: PoolClient) {
    const [account, points] = parse(payload);
    if (points < 0) await credit(sql, account, -points);
    else await debit(sql, account, points); // Refused for good when the points were spent since.
  }
}

async function main(): Promise<number> {
  const { values: flags } = parseArgs({
    options: {
      dsn: { type: "string", default: process.env.SETTLE_STORE },
      listen: { type: "string", default: "127.0.0.1:0" },
      port_file: { type: "string" },
      coordinator: { type: "string" },
      name: { type: "string", default: "points" },
      in_doubt_after: { type: "string", default: "10" },
      open: { type: "string", multiple: true, default: [] },
      tls_cert: { type: "string" },
      tls_key: { type: "string" },
      tls_ca: { type: "string" },
      tls_client_auth: { type: "boolean", default: false },
    },
  });
  if (!flags.dsn) {
    console.error("points: --dsn (or SETTLE_STORE) is required");
    return 2;
  }
  let participant: Participant;
  let port: number;
  try {
    participant = await Participant.open(new Points(), {
      dsn: flags.dsn,
      name: flags.name,
      coordinator: flags.coordinator,
      inDoubtAfterMs: Number(flags.in_doubt_after) * 1000,
      tlsCert: flags.tls_cert,
      tlsKey: flags.tls_key,
      tlsCa: flags.tls_ca,
      tlsClientAuth: flags.tls_client_auth,
    });
    const conn = await participant.connect();
    try {
      await conn.query(SCHEMA);
      for (const opening of flags.open ?? []) {
        const [account, points] = opening.split("=");
        await conn.query("INSERT INTO points_accounts VALUES ($1, $2) ON CONFLICT DO NOTHING", [account, Number(points)]);
      }
    } finally {
      conn.release();
    }
    port = await participant.start(flags.listen!);
  } catch (e) {
    // As the C++ participants: 2 a bad DSN or a refused login, 3 tables that are not ours or
    // newer, 1 the database or the port cannot be used now.
    console.error(`points: cannot start: ${e instanceof Error ? e.message : e}`);
    const code = e instanceof StartError ? e.code : "";
    return code === "INVALID_ARGUMENT" || code === "PERMISSION_DENIED" ? 2 : code === "FAILED_PRECONDITION" ? 3 : 1;
  }
  if (flags.port_file) {
    fs.writeFileSync(flags.port_file + ".tmp", String(port));
    fs.renameSync(flags.port_file + ".tmp", flags.port_file);
  }
  console.error(`points participant serving on port ${port}`);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await participant.stop();
  return 0;
}

main().then((code) => process.exit(code));
