// The contract, loaded at run time from the .proto files the build copies beside the package
// (scripts/gen.js), with the TypeScript types proto-loader-gen-types generated from them.

import * as path from "node:path";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as protobuf from "protobufjs";

import type { ProtoGrpcType as CoordinatorProto } from "./gen/coordinator";
import type { ProtoGrpcType as ParticipantProto } from "./gen/participant";

const PROTO_DIR = path.join(__dirname, "../../proto");
const FILES = ["settle/v1/coordinator.proto", "settle/v1/participant.proto", "settle/v1/reference.proto"];

// Field names as in the .proto (txn_id), 64-bit integers as strings, enums by name.
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export const settleV1 = (
  grpc.loadPackageDefinition(protoLoader.loadSync(FILES, LOADER_OPTIONS)) as unknown as
    CoordinatorProto & ParticipantProto
).settle.v1;

let root: protobuf.Root | undefined;

/** Serializes `message` as the named settle.v1 message (payloads of the reference services,
 * e.g. "BalancePayload"); throws naming the field when it does not fit. */
export function encode(type: string, message: Record<string, unknown>): Buffer {
  if (!root) {
    root = new protobuf.Root();
    root.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
    root.loadSync(FILES, { keepCase: true });
  }
  const t = root.lookupType("settle.v1." + type);
  const error = t.verify(message);
  if (error) throw new Error(`${type}: ${error}`);
  return Buffer.from(t.encode(t.fromObject(message)).finish());
}
