/**
 * Crashes and outages in the middle of an operation, through the real CLI:
 * - kill -9 of `atrest encryption enable|disable` at a random stage and position (seeded and printed;
 *   ATREST_FAULT_SEED=N repeats a run), then `resume`: every trial ends Running with every Secret's value
 *   unchanged, 0 plaintext after enable and 0 KMS values after disable;
 * - the apiserver restarted mid-rewrite, down for longer than the lease: the rewrite retries, the lease
 *   is re-confirmed, and the operation completes;
 * - the store compacted mid-rewrite: the cursor is a key, so the rewrite goes on where a continue token
 *   would be expired (410);
 * - the KMS unreachable mid-rewrite: the stage fails with a reason (phase Failed), every Secret stays
 *   readable, nothing is pruned, and resume completes once the KMS is back.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { startApiServer } from "../src/apiserver/index.js";
import { startKmsServer } from "../src/kms/server.js";
import { STAGES } from "../src/operations/operation-record.js";
import type { ProgressEvent } from "../src/operations/progress.js";
import { runAtrest, spawnAtrest } from "./support/cli.js";
import { eventually } from "./support/encryption-system.js";
import {
  assertStored,
  operationsOn,
  startOperationsCluster,
  type OperationsCluster,
} from "./support/operations-cluster.js";

/** mulberry32: a tiny seeded PRNG, so a failing run can be repeated. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ENV = { ATREST_LOG_LEVEL: "error" };

interface Killed {
  killedAt: string;
  exit: number | null;
  finished: boolean;
}

/** Runs the CLI and SIGKILLs it once `shouldKill(event)` says so; resolves when it has exited. */
function runAndKill(args: string[], shouldKill: (e: Record<string, unknown>) => boolean): Promise<Killed> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawnAtrest(args, { env: ENV });
    let buf = "";
    let killedAt = "";
    let finished = false;
    child.stderr?.on("data", (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.startsWith("{")) continue;
        const e = JSON.parse(line) as Record<string, unknown>;
        if (e["event"] === "operation" && e["state"] === "succeeded") finished = true;
        if (killedAt === "" && shouldKill(e)) {
          killedAt = [e["event"], e["stage"], e["state"] ?? e["rewritten"]]
            .map((v) => JSON.stringify(v ?? ""))
            .join(":");
          child.kill("SIGKILL");
        }
      }
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ killedAt, exit: code, finished });
    });
  });
}

describe("operation faults", () => {
  let c: OperationsCluster;
  let expected: Map<string, Record<string, string>>;
  const restarted: Array<{ close(): Promise<void> }> = [];
  before(async () => {
    c = await startOperationsCluster({
      name: "ops-faults",
      tunables:
        "operation: {convergeTimeout: 30s, retryTimeout: 15s, leaseDuration: 3s, pageSize: 20, concurrency: 8}\n",
    });
    await c.createSecrets("app", 240, "fault");
    expected = await c.secretValues();
  });
  after(async () => {
    for (const s of restarted) await s.close();
    await c?.close();
  });

  it("kill -9 at 22 random stages and positions, then resume: nothing lost, every trial completes", async (t) => {
    const seed = Number(process.env["ATREST_FAULT_SEED"] ?? Date.now() % 1_000_000);
    t.diagnostic(`ATREST_FAULT_SEED=${seed}`);
    const random = prng(seed);
    const trials: string[] = [];
    let lastId: string | undefined;
    for (let i = 0; i < 22; i++) {
      const type = i % 2 === 0 ? ("enable" as const) : ("disable" as const);
      const stages = STAGES[type];
      const stage = stages[Math.floor(random() * stages.length)]!;
      // In the rewrite, die after a random number of progress lines; elsewhere when the stage starts
      // (or, for a third of the trials, when it finished).
      // (JSON progress lines come at most every 250 ms: a few per rewrite of this size.)
      const afterPages = Math.floor(random() * 3);
      const onFinish = random() < 0.33;
      let seen = 0;
      const args = (progress: string): string[] => [
        "encryption",
        type,
        "--cluster",
        c.clusterFile,
        "--progress",
        progress,
        ...(type === "enable" ? ["--key-id", c.sys.kmsKeyId] : []),
      ];
      const killed = await runAndKill(args("json"), (e) => {
        if (e["stage"] !== stage) return false;
        if (stage === "rewrite" && e["event"] === "progress") return seen++ >= afterPages;
        // Preflight runs before the record exists and reports only its end.
        if (stage === "preflight") return e["event"] === "stage" && e["state"] === "succeeded";
        return e["event"] === "stage" && e["state"] === (onFinish ? "succeeded" : "started");
      });
      // Resume: in process with force right away (the dead process's lease is still live), or — every
      // fourth trial — through the CLI: first refused while the lease is live, then after it expired.
      const ops = operationsOn(c);
      const status = await ops.status();
      let how = "finished before the kill";
      if (status.operation !== null && status.operation.state !== "Succeeded") {
        const viaCli = i % 4 === 3;
        if (viaCli) {
          const resume = () =>
            runAtrest(["encryption", "resume", "--cluster", c.clusterFile, "--progress", "none"], {
              env: ENV,
              timeoutMs: 120_000,
            });
          let resumed = await resume();
          if (resumed.status === 9) {
            assert.match(resumed.stderr, /is running, held by .* until/);
            await new Promise((r) => setTimeout(r, 3_500));
            resumed = await resume();
          }
          assert.equal(
            resumed.status,
            0,
            `trial ${i} (${type}, killed at ${killed.killedAt}): resume: ${resumed.stderr}`,
          );
        } else {
          const done = await ops.resume({ force: true });
          assert.equal(done.state, "Succeeded", `trial ${i}`);
        }
        how = `resumed${viaCli ? " (CLI, no --force)" : " --force"} from ${status.operation.stage}`;
      } else if (!killed.finished && status.operation?.id === lastId) {
        // Killed before its record existed (preflight): the operation simply runs again.
        const again = await ops.start({ type, ...(type === "enable" ? { keyId: c.sys.kmsKeyId } : {}) });
        assert.equal(again.state, "Succeeded");
        how = "rerun (killed before the record existed)";
      }
      lastId = (await ops.status()).operation?.id;
      trials.push(`${i} ${type} killed at ${killed.killedAt || "(end)"} → ${how}`);
      if (type === "enable") await assertStored(c, "kms:v2", c.sys.pluginKeyId());
      else await assertStored(c, "identity");
      assert.deepEqual(await c.secretValues(), expected, `trial ${i}: every Secret's value is unchanged`);
      const final = readFileSync(c.sys.configFile, "utf8");
      if (type === "enable") assert.doesNotMatch(final, /identity/, `trial ${i}: identity pruned`);
      else assert.doesNotMatch(final, /kms:/, `trial ${i}: kms pruned`);
    }
    t.diagnostic(trials.join("\n"));
    const kills = trials.filter((l) => !l.includes("(end)")).length;
    assert.ok(kills >= 20, `at least 20 trials were killed mid-operation (${kills})`);
  });

  it("the KMS unreachable mid-rewrite: Failed with a reason, data readable, nothing pruned; resume completes", async () => {
    await operationsOn(c).start({
      type: "disable",
    });
    const kmsUrl = new URL(c.sys.kms!.url);
    let stopped = false;
    const ops = operationsOn(c, {
      progress: (e) => {
        if (!stopped && e.event === "progress" && e.rewritten >= 30) {
          stopped = true;
          void c.sys.kms!.close();
        }
      },
    });
    await assert.rejects(
      ops.start({ type: "enable", keyId: c.sys.kmsKeyId }),
      (err: Error & { code?: string }) => {
        // Seen at the rewrite's next page (the plugin's Status turned unhealthy), or — when the rewrite
        // had finished before the plugin noticed — at verify, whose plugin is unhealthy or which cannot
        // read the values back.
        assert.equal(err.code, "unavailable", err.message);
        assert.match(
          err.message,
          /stopped at stage ((rewrite|verify) .*KMS plugin is unhealthy|verify .*could not read everything back)/,
        );
        return true;
      },
    );
    const status = await ops.status();
    assert.equal(status.phase, "Failed");
    assert.equal(status.operation?.failure?.reason, "KmsUnavailable");
    assert.match(readFileSync(c.sys.configFile, "utf8"), /identity/, "identity is still a provider");
    assert.deepEqual(await c.secretValues(), expected, "every Secret is readable while the KMS is down");

    const again = await startKmsServer({
      dataDir: c.sys.kmsDataDir!,
      listen: kmsUrl.host,
      cacheTtlMs: 0,
      schedulerIntervalMs: 0,
    });
    restarted.push(again);
    await eventually("the plugin to be healthy again", () => Promise.resolve(c.sys.plugin!.status().healthy));
    const done = await operationsOn(c).resume();
    assert.equal(done.state, "Succeeded");
    await assertStored(c, "kms:v2", c.sys.pluginKeyId());
    assert.deepEqual(await c.secretValues(), expected);
  });

  it("the store compacted mid-rewrite (where a continue token loses its place): the key cursor goes on", async () => {
    await operationsOn(c).start({ type: "disable" });
    const store = c.sys.store;
    // A token as the apiserver hands it out, taken before the compaction: it names a revision.
    const first = await c.kube.getJson<{ metadata: { continue?: string } }>("/api/v1/secrets?limit=10");
    const token = first.metadata.continue!;
    let compactedAt = 0;
    const ops = operationsOn(c, {
      progress: (e) => {
        if (compactedAt === 0 && e.event === "progress" && e.rewritten > 40) {
          compactedAt = -1;
          void store.currentRevision().then(async (rev) => {
            await store.compact(rev);
            compactedAt = rev;
          });
        }
      },
    });
    const record = await ops.start({ type: "enable", keyId: c.sys.kmsKeyId });
    assert.ok(compactedAt > 0, "the store was compacted during the rewrite");
    assert.equal(record.state, "Succeeded");
    assert.ok(record.progress.rewritten >= 240, JSON.stringify(record.progress));
    await assert.rejects(
      c.kube.getJson(`/api/v1/secrets?limit=10&continue=${encodeURIComponent(token)}`),
      /HTTP 410 Expired/,
      "the apiserver's own token from before the compaction is expired",
    );
    await assertStored(c, "kms:v2", c.sys.pluginKeyId());
    assert.deepEqual(await c.secretValues(), expected);
  });

  it("an apiserver restarted mid-rewrite, down longer than the lease: the rewrite retries and completes", async () => {
    await operationsOn(c).start({
      type: "disable",
    });
    const sys = c.sys;
    const port = sys.apiserver.port;
    const events: ProgressEvent[] = [];
    let restarting = false;
    const ops = operationsOn(c, {
      progress: (e) => {
        events.push(e);
        if (!restarting && e.event === "progress" && e.rewritten > 40) {
          restarting = true;
          void (async () => {
            await sys.apiserver.close();
            // Down for longer than the lease (3 s): renewals fail until it expires locally, and the
            // operation re-confirms it by compare-and-swap instead of stopping (nobody took it).
            await new Promise((r) => setTimeout(r, 4_500));
            restarted.push(
              await startApiServer({
                store: sys.store,
                storeCheckName: "datastore",
                dataDir: `${sys.dir}/apiserver`,
                securePort: port,
                encryptionProviderConfig: sys.configFile,
                encryptionProviderConfigAutomaticReload: true,
                encryptionReloadIntervalMs: 200,
              }),
            );
          })();
        }
      },
    });
    const record = await ops.start({ type: "enable", keyId: c.sys.kmsKeyId });
    assert.ok(restarting, "the apiserver was restarted during the rewrite");
    assert.equal(record.state, "Succeeded");
    assert.ok(
      events.some((e) => e.event === "retry"),
      "the rewrite waited for the apiserver",
    );
    await assertStored(c, "kms:v2", c.sys.pluginKeyId());
    assert.deepEqual(await c.secretValues(), expected);
  });
});
