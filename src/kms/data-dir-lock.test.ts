import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { AtrestError } from "../common/errors.js";
import { dataDirServers, holdDataDirForRestore, holdDataDirForServing } from "./data-dir-lock.js";

function refusedWith(pattern: RegExp) {
  return (err: unknown) =>
    err instanceof AtrestError && err.code === "failed-precondition" && pattern.test(err.message);
}

test("servers share a data dir; a restore needs it alone, and a server does not start during a restore", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-lock-"));
  try {
    const a = await holdDataDirForServing(dir, undefined);
    const b = await holdDataDirForServing(dir, undefined);
    assert.equal(dataDirServers(dir).length, 2);
    await assert.rejects(
      holdDataDirForRestore(dir, undefined),
      refusedWith(/in use by a running KMS server \(pid \d+/),
    );
    assert.deepEqual(readdirSync(dir).sort(), ["in-use"], "a refused restore leaves no marker");
    await a.release();
    await b.release();
    assert.equal(dataDirServers(dir).length, 0);
    const restore = await holdDataDirForRestore(dir, undefined);
    await assert.rejects(holdDataDirForServing(dir, undefined), refusedWith(/is being restored/));
    await assert.rejects(holdDataDirForRestore(dir, undefined), refusedWith(/another restore/));
    await restore.release();
    const c = await holdDataDirForServing(dir, undefined);
    await c.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a marker left by a process that has ended is stale: removed, not obeyed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-lock-"));
  try {
    const ended = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
      encoding: "utf8",
    });
    const pid = Number(ended.stdout);
    mkdirSync(join(dir, "in-use"));
    const marker = join(dir, "in-use", `${hostname()}-${pid}-dead.json`);
    writeFileSync(marker, JSON.stringify({ host: hostname(), pid, startTicks: "1", since: "then" }));
    writeFileSync(
      join(dir, "restoring.json"),
      JSON.stringify({ host: hostname(), pid, startTicks: "1", since: "then" }),
    );
    const serving = await holdDataDirForServing(dir, undefined);
    await serving.release();
    const restore = await holdDataDirForRestore(dir, undefined);
    await restore.release();
    assert.deepEqual(readdirSync(join(dir, "in-use")), [], "the stale marker was removed");
    // Another host's marker cannot be checked: it counts as in use.
    writeFileSync(
      join(dir, "in-use", "other.json"),
      JSON.stringify({ host: "elsewhere", pid: 1, startTicks: "", since: "now" }),
    );
    await assert.rejects(holdDataDirForRestore(dir, undefined), refusedWith(/pid 1 on elsewhere/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
