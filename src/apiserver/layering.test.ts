import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/**
 * The apiserver's layers, as its imports show them: handler (http/) → registry (registry/) →
 * transforming store → store. The registry reaches stored bytes only through the transforming store,
 * the HTTP layer only through the registry's entry; only the server's wiring sees the raw store.
 */

const apiserverDir = dirname(fileURLToPath(import.meta.url));
const srcDir = resolve(apiserverDir, "..");
/** The transforming store and the types it hands up: all the apiserver may use of src/storage. */
const TRANSFORMING_STORE = new Set([
  "storage/transforming-store.ts",
  "storage/decoded-value.ts",
  "storage/transformation-record.ts",
]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith(".ts") && !name.endsWith(".test.ts") ? [path] : [];
  });
}

/** The src-relative paths a file imports (relative specifiers only; packages are not layers). */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith("."))
    .map((spec) => relative(srcDir, resolve(dirname(file), spec)).replace(/\.js$/, ".ts"));
}

function violations(files: string[], allowed: (target: string) => boolean): string[] {
  return files.flatMap((file) =>
    importsOf(file)
      .filter((target) => !allowed(target))
      .map((target) => `${relative(srcDir, file)} imports ${target}`),
  );
}

test("the registry reaches storage only through the transforming store", () => {
  const files = sourceFiles(join(apiserverDir, "registry"));
  assert.ok(files.length >= 5, "the registry's files were found");
  assert.deepEqual(
    violations(files, (t) => !t.startsWith("storage/") || TRANSFORMING_STORE.has(t)),
    [],
  );
});

test("the HTTP layer reaches no storage, and the registry only through its entry", () => {
  const files = sourceFiles(join(apiserverDir, "http"));
  assert.ok(files.length >= 5, "the HTTP layer's files were found");
  assert.deepEqual(
    violations(
      files,
      (t) =>
        !t.startsWith("storage/") &&
        (!t.startsWith("apiserver/registry/") || t === "apiserver/registry/index.ts"),
    ),
    [],
  );
});

test("only the server's wiring sees the raw store", () => {
  const files = sourceFiles(apiserverDir).filter((f) => relative(apiserverDir, f) !== "server.ts");
  assert.deepEqual(
    violations(files, (t) => !t.startsWith("storage/") || TRANSFORMING_STORE.has(t)),
    [],
  );
});
