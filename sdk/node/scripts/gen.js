// Build step: copies proto/settle/v1 of the repository into the package (loaded at run time by
// @grpc/proto-loader) and sdk/barrier_schema.sql beside it, and generates the TypeScript types of its messages and services into
// src/gen with proto-loader-gen-types. Neither is checked in.
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const pkg = path.resolve(__dirname, "..");
const from = path.resolve(pkg, "../../proto/settle/v1");
const to = path.join(pkg, "proto/settle/v1");
fs.rmSync(path.join(pkg, "proto"), { recursive: true, force: true });
fs.mkdirSync(to, { recursive: true });
const files = fs.readdirSync(from).filter((f) => f.endsWith(".proto"));
for (const f of files) fs.copyFileSync(path.join(from, f), path.join(to, f));
// The barrier's DDL, one file for the SDKs outside C++ (read at run time by src/store.ts).
fs.copyFileSync(path.resolve(pkg, "../barrier_schema.sql"), path.join(pkg, "barrier_schema.sql"));
fs.rmSync(path.join(pkg, "src/gen"), { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    require.resolve("@grpc/proto-loader/build/bin/proto-loader-gen-types.js"),
    "--keepCase", "--longs=String", "--enums=String", "--defaults", "--oneofs",
    "--grpcLib=@grpc/grpc-js", "--outDir=src/gen",
    ...files.map((f) => "settle/v1/" + f),
    "--includeDirs", "proto", // Last: an array option takes every argument after it.
  ],
  { cwd: pkg, stdio: "inherit" },
);
