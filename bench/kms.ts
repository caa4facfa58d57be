/**
 * `npm run bench -- kms`: Encrypt requests per second over HTTPS against an in-process atrest kms
 * (signature V1 checked, nonce recorded, audit record stored before each response), with concurrent
 * keep-alive requests from the same process and from a child process, for a SOFTWARE key and (when
 * SoftHSM2 is installed) an HSM key, beside raw AES-256-GCM operations per second of this process.
 */
import { spawn } from "node:child_process";
import { createCipheriv, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyAuditChain } from "../src/kms/audit-log.js";
import { initKmsDataDir } from "../src/kms/init.js";
import type { ProtectionBackend } from "../src/kms/protection/protection.js";
import { KmsRpcTestClient } from "../test/support/kms-rpc-test-client.js";
import { startKmsServer } from "../src/kms/server.js";

const DURATION_MS = Number(process.env.KMS_BENCH_MS ?? 8000);
const CONCURRENCY = Number(process.env.KMS_BENCH_CONCURRENCY ?? 32);

function rawAesGcmOpsPerSec(ms: number): number {
  const key = randomBytes(32);
  const pt = Buffer.from("YmVuY2htYXJrLWRhdGEta2V5LTMyLWJ5dGVzLWJhc2U2NA==");
  const aad = randomBytes(64);
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) {
      const c = createCipheriv("aes-256-gcm", key, randomBytes(12));
      c.setAAD(aad);
      c.update(pt);
      c.final();
      c.getAuthTag();
    }
    n += 100;
  }
  return Math.round(n / (ms / 1000));
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function load(client: KmsRpcTestClient, keyId: string, ms: number, concurrency: number) {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + ms;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const res = await client.raw("Encrypt", {
        KeyId: keyId,
        Plaintext: "YmVuY2htYXJrLWRhdGEta2V5LTMyLWJ5dGVzLWJhc2U2NA==",
      });
      latencies.push(performance.now() - t0);
      if (res.status !== 200) errors++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return {
    concurrency,
    requests: latencies.length,
    errors,
    encryptPerSec: Math.round(latencies.length / (elapsed / 1000)),
    p50Ms: Math.round(percentile(latencies, 50) * 100) / 100,
    p99Ms: Math.round(percentile(latencies, 99) * 100) / 100,
  };
}

/**
 * The same load from a child process (plain JavaScript, V1 signing written out as the SDKs do it), so
 * client-side TLS and signing do not share the server's event loop.
 */
const CHILD_SOURCE = `
const https = require("node:https");
const { createHmac, randomUUID } = require("node:crypto");
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
const { url, ca, accessKeyId, accessKeySecret, keyId, ms, concurrency } = JSON.parse(process.argv[1]);
const u = new URL(url);
const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca });
function request() {
  const p = { Action: "Encrypt", Version: "2016-01-20", Format: "JSON", AccessKeyId: accessKeyId, SignatureMethod: "HMAC-SHA1",
    SignatureVersion: "1.0", SignatureNonce: randomUUID(), Timestamp: new Date().toISOString().slice(0, 19) + "Z",
    KeyId: keyId, Plaintext: "YmVuY2htYXJrLWRhdGEta2V5LTMyLWJ5dGVzLWJhc2U2NA==" };
  const canonical = Object.keys(p).sort().map((k) => enc(k) + "=" + enc(p[k])).join("&");
  const sig = createHmac("sha1", accessKeySecret + "&").update("POST&%2F&" + enc(canonical)).digest("base64");
  const body = canonical + "&Signature=" + enc(sig);
  return new Promise((resolve) => {
    const req = https.request({ hostname: u.hostname, port: u.port, path: "/", method: "POST", agent,
      headers: { "content-type": "application/x-www-form-urlencoded", "content-length": String(Buffer.byteLength(body)) } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", () => resolve(0));
    req.end(body);
  });
}
(async () => {
  const latencies = [];
  let errors = 0;
  const end = performance.now() + ms;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const status = await request();
      latencies.push(performance.now() - t0);
      if (status !== 200) errors++;
    }
  }));
  process.stdout.write(JSON.stringify({ latencies, errors, elapsed: performance.now() - started }));
  agent.destroy();
})();
`;

async function loadFromChild(
  target: { url: string; ca: string | undefined; accessKeyId: string; accessKeySecret: string },
  keyId: string,
  ms: number,
  concurrency: number,
) {
  const cpu0 = process.cpuUsage();
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["-e", CHILD_SOURCE, JSON.stringify({ ...target, keyId, ms, concurrency })],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let text = "";
    child.stdout.on("data", (c: Buffer) => (text += c.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(text) : reject(new Error(`load generator exited ${code}`)),
    );
  });
  const cpu = process.cpuUsage(cpu0);
  const result = JSON.parse(out) as { latencies: number[]; errors: number; elapsed: number };
  const latencies = result.latencies.sort((a, b) => a - b);
  return {
    concurrency,
    /** CPU the server process spent per request (the load generator is another process). */
    serverCpuUsPerRequest: Math.round((cpu.user + cpu.system) / Math.max(1, latencies.length)),
    requests: latencies.length,
    errors: result.errors,
    encryptPerSec: Math.round(latencies.length / (result.elapsed / 1000)),
    p50Ms: Math.round(percentile(latencies, 50) * 100) / 100,
    p99Ms: Math.round(percentile(latencies, 99) * 100) / 100,
  };
}

let hsmCleanup: (() => void) | undefined;

async function tryHsm(): Promise<ProtectionBackend | { skipped: string }> {
  try {
    const { createSoftHsmToken, findSoftHsmModule } = await import("../test/support/softhsm.js");
    if (findSoftHsmModule() === undefined) return { skipped: "SoftHSM2 not installed" };
    const { createPkcs11Protection } = await import("../src/kms/protection/pkcs11.js");
    const token = await createSoftHsmToken();
    hsmCleanup = () => token.cleanup();
    return await createPkcs11Protection(token);
  } catch (err) {
    return { skipped: `HSM backend unavailable: ${err instanceof Error ? err.message : String(err)}` };
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "atrest-kms-bench-"));
  try {
    await initKmsDataDir({ dataDir: dir });
    const hsm = await tryHsm();
    const hsmBackend = "skipped" in hsm ? undefined : hsm;
    const server = await startKmsServer({
      dataDir: dir,
      schedulerIntervalMs: 0,
      ...(hsmBackend === undefined ? {} : { hsm: hsmBackend }),
    });
    const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    const client = new KmsRpcTestClient({
      url: server.url,
      ...creds,
      caCertPem: server.caCertPem,
      maxSockets: CONCURRENCY,
    });
    try {
      const keyId = String(
        ((await client.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId,
      );
      await load(client, keyId, 1000, CONCURRENCY); // warm-up: TLS sessions, JIT, caches
      const software = await load(client, keyId, DURATION_MS, CONCURRENCY);
      const lowConcurrency = await load(client, keyId, Math.min(DURATION_MS, 4000), 4);
      const target = { url: server.url, ca: server.caCertPem, ...creds };
      const childProcessLoad = await loadFromChild(target, keyId, DURATION_MS, CONCURRENCY);
      // Throughput and tail latency trade off through the number of requests in flight.
      const childProcessSweep = [];
      for (const c of [8, 12, 16, 20, 24])
        childProcessSweep.push(await loadFromChild(target, keyId, DURATION_MS, c));
      childProcessSweep.push(childProcessLoad);
      let hsmResult: Record<string, unknown> = "skipped" in hsm ? { skipped: hsm.skipped } : {};
      if (hsmBackend !== undefined) {
        const hsmKey = String(
          (
            (await client.call("CreateKey", { ProtectionLevel: "HSM" })).KeyMetadata as Record<
              string,
              unknown
            >
          ).KeyId,
        );
        hsmResult = await load(client, hsmKey, Math.min(DURATION_MS, 5000), CONCURRENCY);
      }
      await server.journal.idle();
      const chain = await verifyAuditChain(server.kdb);
      const rawOps = rawAesGcmOpsPerSec(2000);
      return {
        durationMs: DURATION_MS,
        concurrency: CONCURRENCY,
        transport:
          "HTTPS keep-alive; load generator in the same process (software, hsm) or a child process (softwareChildProcessLoad)",
        signature: "V1 HMAC-SHA1, nonce stored, audit record stored (group commit) before each response",
        store: "SQLite (WAL)",
        software,
        softwareConcurrency4: lowConcurrency,
        softwareChildProcessLoad: childProcessLoad,
        softwareChildProcessByConcurrency: childProcessSweep,
        hsm: hsmResult,
        rawAesGcmOpsPerSec: rawOps,
        auditRecordsVerified: chain.records,
        auditChainOk: chain.ok,
        goal: { encryptPerSec: 5000, p99Ms: 10 },
        goalMet: childProcessSweep.some((r) => r.encryptPerSec >= 5000 && r.p99Ms < 10),
      };
    } finally {
      client.close();
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    hsmCleanup?.();
  }
}
