#!/usr/bin/env node
// Makes a fresh clone on a fresh machine ready: npm packages (npm ci when node_modules is missing or
// older than package-lock.json) and, with --system, the Debian packages the tests drive for real
// (etcd, SoftHSM2, PostgreSQL, OpenSC, the Kubernetes Python client). Only plain node here: it runs
// before any dependency exists.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..");

function log(msg) {
  process.stderr.write(`[ensure-deps] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed with status ${r.status}`);
}

export function ensureNpm() {
  const marker = join(root, "node_modules", ".package-lock.json");
  const lock = join(root, "package-lock.json");
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  log("installing npm packages (npm ci; better-sqlite3 compiles from source, about a minute)");
  run("npm", ["ci", "--no-audit", "--no-fund"]);
}

/** The newest modification time of any file below `dir`. */
function newestMtimeMs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds the web console (scripts/build-console.mjs) when its sources are newer than the last build. */
export async function ensureConsoleBuilt() {
  const { buildConsole, BUILD_STAMP, CONSOLE_SRC } = await import("./build-console.mjs");
  if (existsSync(BUILD_STAMP) && statSync(BUILD_STAMP).mtimeMs >= newestMtimeMs(CONSOLE_SRC)) return;
  log("building the web console (vite build of src/console into dist-console/)");
  await buildConsole();
}

const SYSTEM = [
  // [what must exist, Debian package]
  ["/usr/bin/etcd", "etcd-server"],
  ["/usr/bin/etcdctl", "etcd-client"],
  ["/usr/bin/softhsm2-util", "softhsm2"],
  ["/usr/bin/pkcs11-tool", "opensc"],
  ["/usr/lib/postgresql", "postgresql"],
  // docs/runbook.md's commands (run by test/recovery-runbook.test.ts) use jq and curl.
  ["/usr/bin/jq", "jq"],
  ["/usr/bin/curl", "curl"],
  // test/clients-python.test.ts: the official Kubernetes Python client, run by Debian's python3.
  ["/usr/lib/python3/dist-packages/kubernetes", "python3-kubernetes"],
  // test/console-*.test.ts: the web console in Debian's Chromium, driven by playwright-core.
  ["/usr/bin/chromium", "chromium"],
  // A CJK font, so the Chinese console's screenshots show characters rather than empty boxes.
  ["/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "fonts-wqy-microhei"],
];

export function ensureSystem() {
  const missing = SYSTEM.filter(([path]) => !existsSync(path)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  const isRoot = process.getuid?.() === 0;
  const sudo = isRoot ? [] : ["sudo", "-n"];
  log(`installing Debian packages: ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const [cmd, ...pre] = sudo.length ? sudo : ["apt-get"];
  const aptArgs = (args) => (sudo.length ? [...pre, "apt-get", ...args] : args);
  run(cmd, aptArgs(["update", "-q"]), { env });
  run(cmd, aptArgs(["install", "-y", "-q", "--no-install-recommends", ...missing]), { env });
  // Debian starts a PostgreSQL cluster on install; the tests start their own, so stop it if running.
  try {
    execFileSync(
      "sh",
      [
        "-c",
        "command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}' | while read v c; do pg_ctlcluster $v $c stop || true; done",
      ],
      { stdio: "ignore" },
    );
  } catch {
    // nothing running
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  ensureNpm();
  if (args.includes("--system")) ensureSystem();
  await ensureConsoleBuilt();
}
