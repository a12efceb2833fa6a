// A caller: pays part of a purchase in money at balance (Settle's C++ reference participant) and
// part in loyalty points at the points participant, in one transaction, and prints its outcome
// as JSON: the TypeScript twin of sdk/python/examples/pay.py. Exit 0 when it committed, 1 when
// it aborted, 2 on an error (its status named).
//
//   node dist/examples/pay.js --coordinator 127.0.0.1:7070 --key order-7 --buyer alice \
//     --shop shop --amount_minor 500 --points 50 [--mode saga]

import { parseArgs } from "node:util";

import { Client, SettleError, encode } from "../src";

async function main(): Promise<number> {
  const { values: f } = parseArgs({
    options: {
      coordinator: { type: "string" },
      key: { type: "string" },
      buyer: { type: "string" },
      shop: { type: "string" },
      amount_minor: { type: "string" },
      points: { type: "string" },
      mode: { type: "string", default: "two_phase" },
      timeout: { type: "string", default: "5" },
      tls_ca: { type: "string" }, // TLS to the coordinator, trusting this CA;
      tls_cert: { type: "string" }, // with tls_key: this client certificate (mutual TLS).
      tls_key: { type: "string" },
    },
  });
  for (const required of ["coordinator", "key", "buyer", "shop", "amount_minor", "points"] as const) {
    if (f[required] === undefined) {
      console.error(`pay: --${required} is required`);
      return 2;
    }
  }
  const amount = Number(f.amount_minor);
  const money = encode("BalancePayload", {
    postings: [
      { account: f.buyer, amount_minor: -amount },
      { account: f.shop, amount_minor: amount },
    ],
  });
  const points = Buffer.from(JSON.stringify({ account: f.buyer, points: -Number(f.points) }));
  const client = new Client(f.coordinator!, { tlsCa: f.tls_ca, tlsCert: f.tls_cert, tlsKey: f.tls_key });
  try {
    const r = await client.execute(
      [
        { participant: "balance", payload: money },
        { participant: "points", payload: points },
      ],
      f.key!,
      { timeout: Number(f.timeout), mode: f.mode },
    );
    console.log(oneLine({
      txn_id: r.txnId, committed: r.committed, replayed: r.replayed,
      refused_participant: r.refusedParticipant, reason: r.reason,
    }));
    return r.committed ? 0 : 1;
  } catch (e) {
    if (!(e instanceof SettleError)) throw e;
    console.log(oneLine({ error: codeName(e), message: e.details }));
    return 2;
  } finally {
    client.close();
  }
}

// The status's name: SettleError's message is "<CODE>: <details>".
function codeName(e: SettleError): string {
  return e.message.slice(0, e.message.indexOf(":"));
}

// JSON on one line, spaced as Python's json.dumps writes it (the tests read both alike).
function oneLine(value: object): string {
  return JSON.stringify(value, null, 1).replace(/\n\s*/g, " ");
}

main().then((code) => process.exit(code));
