// Whether dist/ is the compiled form of the sources beside it. `npm run build` writes
// dist/build-stamp.json with a hash of what it compiled (every src/**/*.ts but the unit tests, and the
// tsconfig files); bin/atrest.js runs dist/ only when that hash is the hash of the sources now, so a
// pull, a branch switch or an edit never runs stale output. Plain node: it runs before any build.
//
//   node bin/source-stamp.js --clear   before compiling (a failed build leaves no stamp)
//   node bin/source-stamp.js --write   after compiling
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const STAMP = join("dist", "build-stamp.json");
const CONFIG_FILES = ["tsconfig.json", "tsconfig.build.json"];

/** What tsconfig.build.json compiles: src/**\/*.ts except src/**\/*.test.ts. */
function sourceFiles(root) {
  const out = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) out.push(path);
    }
  };
  walk(join(root, "src"));
  return out.map((p) => relative(root, p).split(sep).join("/")).sort();
}

/** sha256 over every compiled source and tsconfig file: its path, then its bytes. */
export function sourceHash(root) {
  const hash = createHash("sha256");
  for (const file of [...CONFIG_FILES.filter((f) => existsSync(join(root, f))), ...sourceFiles(root)]) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(root, file)));
    hash.update("\0");
  }
  return `sha256:${hash.digest("hex")}`;
}

export function writeStamp(root) {
  writeFileSync(join(root, STAMP), `${JSON.stringify({ sourceHash: sourceHash(root) })}\n`);
}

export function clearStamp(root) {
  rmSync(join(root, STAMP), { force: true });
}

/**
 * What `atrest` runs: "dist" when dist/ was built from exactly these sources, or when there are no
 * sources (an installed image ships dist/ only); otherwise "source" (through tsx), with the reason.
 */
export function chooseEntry(root) {
  const compiled = join(root, "dist", "cli", "main.js");
  if (!existsSync(compiled)) return { kind: "source", reason: "not built" };
  if (!existsSync(join(root, "src"))) return { kind: "dist", reason: "no sources beside dist/" };
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(join(root, STAMP), "utf8"));
  } catch {
    return {
      kind: "source",
      stale: true,
      reason: "dist/ has no build stamp (built before stamps, or the build failed)",
    };
  }
  if (stamp?.sourceHash !== sourceHash(root))
    return { kind: "source", stale: true, reason: "dist/ is older than the sources (run `npm run build`)" };
  return { kind: "dist", reason: "dist/ matches the sources" };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  if (process.argv.includes("--clear")) clearStamp(root);
  else if (process.argv.includes("--write")) writeStamp(root);
  else process.stdout.write(`${JSON.stringify(chooseEntry(root))}\n`);
}
