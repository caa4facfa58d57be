#!/usr/bin/env node
// The `atrest` command. Runs the compiled CLI (dist/) only when it was built from exactly the sources
// beside it (bin/source-stamp.js), otherwise the TypeScript sources through tsx: a fresh clone works
// without a build step, and a pull or an edit after a build never runs stale output.
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";
import { chooseEntry } from "./source-stamp.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = process.env.ATREST_FROM_SOURCE
  ? { kind: "source", reason: "ATREST_FROM_SOURCE" }
  : chooseEntry(root);
if (entry.kind === "dist") {
  await import(pathToFileURL(join(root, "dist", "cli", "main.js")).href);
} else {
  if (entry.stale && process.stderr.isTTY)
    process.stderr.write(`atrest: ${entry.reason}; running the sources instead\n`);
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(join(root, "src", "cli", "main.ts")).href);
}
