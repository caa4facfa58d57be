#!/usr/bin/env node
// Generates TypeScript wire types for the KMS .proto files (proto/kms-*.proto) into
// src/generated/kms-wire.ts, and checks that every file parses both with protobufjs and with
// @grpc/proto-loader (the loader src/proto/ uses at runtime with the same options).
//
//   npm run proto:gen            regenerate src/generated/kms-wire.ts
//   npm run proto:gen -- --check fail (exit 1) when the generated file is out of date
//
// The services themselves are loaded at runtime from the .proto files (src/proto/); only types are
// generated. Field names keep the proto's spelling (keepCase), bytes are Buffers, enums are names.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import protobuf from "protobufjs";
import * as protoLoader from "@grpc/proto-loader";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..");
const FILES = ["kms-v2.proto", "kms-v1beta1.proto", "kms-v2-encrypted-object.proto"];
const OUT = join(root, "src", "generated", "kms-wire.ts");
const check = process.argv.includes("--check");

/** `v1beta1.VersionRequest` → `V1beta1VersionRequest`. */
function tsName(fullName) {
  return fullName
    .replace(/^\./, "")
    .split(".")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
}

const SCALARS_IN = {
  string: "string",
  bool: "boolean",
  bytes: "Uint8Array",
  double: "number",
  float: "number",
  int32: "number",
  uint32: "number",
  sint32: "number",
  fixed32: "number",
  sfixed32: "number",
  int64: "number | string",
  uint64: "number | string",
  sint64: "number | string",
  fixed64: "number | string",
  sfixed64: "number | string",
};
const SCALARS_OUT = { ...SCALARS_IN, bytes: "Buffer" };
for (const t of ["int64", "uint64", "sint64", "fixed64", "sfixed64"]) SCALARS_OUT[t] = "string";

function fieldType(field, output) {
  const scalars = output ? SCALARS_OUT : SCALARS_IN;
  const single = (type, resolved) => {
    if (scalars[type]) return scalars[type];
    if (resolved instanceof protobuf.Enum) {
      return output ? tsName(resolved.fullName) : `${tsName(resolved.fullName)} | number`;
    }
    if (resolved instanceof protobuf.Type) return tsName(resolved.fullName) + (output ? "Output" : "");
    throw new Error(`unsupported field type ${type} in ${field.fullName}`);
  };
  const value = single(field.type, field.resolvedType);
  if (field.map) return `Record<string, ${value}>`;
  if (field.repeated) return `Array<${value}>`;
  return value;
}

const seen = new Map();
const sections = [];
for (const file of FILES) {
  const path = join(root, "proto", file);
  // 1. protobufjs parses it (and resolves every type).
  const pbRoot = new protobuf.Root();
  pbRoot.loadSync(path, { keepCase: true });
  pbRoot.resolveAll();
  // 2. @grpc/proto-loader parses it with the runtime options.
  protoLoader.loadSync(path, { keepCase: true, bytes: Buffer, longs: String, enums: String, defaults: true });

  const lines = [`// ---- proto/${file} ----`];
  const visit = (ns) => {
    for (const obj of ns.nestedArray) {
      const name = tsName(obj.fullName);
      if (obj instanceof protobuf.Type || obj instanceof protobuf.Enum || obj instanceof protobuf.Service) {
        if (seen.has(name)) throw new Error(`${obj.fullName} (${file}) collides with ${seen.get(name)}`);
        seen.set(name, `${obj.fullName} (${file})`);
      }
      if (obj instanceof protobuf.Enum) {
        lines.push(`/** enum ${obj.fullName.slice(1)} */`);
        lines.push(`export const ${name} = {`);
        for (const [k, v] of Object.entries(obj.values)) lines.push(`  ${k}: ${v},`);
        lines.push(`} as const;`);
        lines.push(`export type ${name} = keyof typeof ${name};`, "");
      } else if (obj instanceof protobuf.Type) {
        lines.push(`/** message ${obj.fullName.slice(1)}, as passed to the serializer. */`);
        lines.push(`export interface ${name} {`);
        for (const f of obj.fieldsArray) lines.push(`  ${f.name}?: ${fieldType(f, false)}; // = ${f.id}`);
        lines.push(`}`);
        lines.push(`/** message ${obj.fullName.slice(1)}, as decoded (defaults filled in). */`);
        lines.push(`export interface ${name}Output {`);
        for (const f of obj.fieldsArray) lines.push(`  ${f.name}: ${fieldType(f, true)}; // = ${f.id}`);
        lines.push(`}`, "");
      } else if (obj instanceof protobuf.Service) {
        const pkgPath = obj.fullName.slice(1);
        lines.push(`/** service ${pkgPath}: handlers for grpc.Server.addService. */`);
        lines.push(`export interface ${name}Handlers extends grpc.UntypedServiceImplementation {`);
        for (const m of obj.methodsArray) {
          m.resolve();
          const req = tsName(m.resolvedRequestType.fullName);
          const res = tsName(m.resolvedResponseType.fullName);
          lines.push(`  ${m.name}: grpc.handleUnaryCall<${req}Output, ${res}>;`);
        }
        lines.push(`}`);
        lines.push(`export const ${name}Paths = {`);
        for (const m of obj.methodsArray) lines.push(`  ${m.name}: "/${pkgPath}/${m.name}",`);
        lines.push(`} as const;`, "");
      } else if (obj instanceof protobuf.Namespace) {
        visit(obj);
      }
    }
  };
  visit(pbRoot);
  sections.push(lines.join("\n"));
}

const generated = [
  "// GENERATED by scripts/proto-gen.mjs from proto/*.proto — do not edit; run `npm run proto:gen`.",
  "/* eslint-disable */",
  'import type * as grpc from "@grpc/grpc-js";',
  "",
  ...sections,
].join("\n");

if (check) {
  let current = "";
  try {
    current = readFileSync(OUT, "utf8");
  } catch {
    // missing counts as out of date
  }
  if (current !== generated) {
    process.stderr.write(`proto-gen: ${OUT} is out of date; run npm run proto:gen\n`);
    process.exit(1);
  }
  process.stdout.write(
    `proto-gen: ${FILES.length} .proto files parse; src/generated/kms-wire.ts is up to date\n`,
  );
} else {
  mkdirSync(join(root, "src", "generated"), { recursive: true });
  writeFileSync(OUT, generated);
  process.stdout.write(`proto-gen: ${FILES.length} .proto files parse; wrote src/generated/kms-wire.ts\n`);
}
