#!/usr/bin/env node
// Runs every test with node's test runner (TypeScript through tsx). Unit tests sit beside their source
// (src/**/*.test.ts); end-to-end suites are in test/**/*.test.ts. `--unit` runs only the former.
// Extra arguments are passed to `node --test` (e.g. --test-name-pattern=…); file paths select files.
import { spawnSync } from "node:child_process";
import { ensureConsoleBuilt, ensureNpm, ensureSystem } from "./ensure-deps.mjs";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const unitOnly = args.includes("--unit");
const passthrough = args.filter((a) => a !== "--unit" && a.startsWith("--"));
const selected = args.filter((a) => !a.startsWith("--"));

function find(dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(find(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

// A fresh clone on a fresh machine: install what the tests need first.
ensureNpm();
if (!unitOnly) ensureSystem();
// The console's browser tests and server serve the built console.
if (!unitOnly) await ensureConsoleBuilt();

const files = selected.length > 0 ? selected : [...find("src"), ...(unitOnly ? [] : find("test"))].sort();
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=2", ...passthrough, ...files],
  { stdio: "inherit", env: { ...process.env, ATREST_FROM_SOURCE: "1" } },
);
process.exit(result.status ?? 1);
