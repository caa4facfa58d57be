/**
 * `npm run bench -- kms`: Encrypt requests per second over HTTPS against an in-process atrest kms
 * (signature V1 checked, nonce recorded, audit record stored before each response), with concurrent
 * keep-alive requests from the same process, beside raw AES-256-GCM operations per second. (A worker
 * thread as load generator measured slower on this 2-core machine, so the client shares the loop.)
 */
import { createCipheriv, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyAuditChain } from "../src/kms/audit-log.js";
import { initKmsDataDir } from "../src/kms/init.js";
import type { ProtectionBackend } from "../src/kms/protection/protection.js";
import { KmsRpcTestClient } from "../src/kms/rpc-test-client.js";
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
      const res = await client.raw("Encrypt", { KeyId: keyId, Plaintext: "YmVuY2htYXJrLWRhdGEta2V5LTMyLWJ5dGVzLWJhc2U2NA==" });
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

let hsmCleanup: (() => void) | undefined;

async function tryHsm(): Promise<ProtectionBackend | { skipped: string }> {
  const modulePath = "/usr/lib/softhsm/libsofthsm2.so";
  if (!existsSync(modulePath)) return { skipped: "SoftHSM2 not installed" };
  try {
    const { createSoftHsmToken } = await import("../test/support/softhsm.js");
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
    const server = await startKmsServer({ dataDir: dir, schedulerIntervalMs: 0, ...(hsmBackend === undefined ? {} : { hsm: hsmBackend }) });
    const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as { accessKeyId: string; accessKeySecret: string };
    const client = new KmsRpcTestClient({ url: server.url, ...creds, caCertPem: server.caCertPem, maxSockets: CONCURRENCY });
    try {
      const keyId = String(((await client.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
      await load(client, keyId, 1000, CONCURRENCY); // warm-up: TLS sessions, JIT, caches
      const software = await load(client, keyId, DURATION_MS, CONCURRENCY);
      const lowConcurrency = await load(client, keyId, Math.min(DURATION_MS, 4000), 4);
      let hsmResult: Record<string, unknown> = "skipped" in hsm ? { skipped: hsm.skipped } : {};
      if (hsmBackend !== undefined) {
        const hsmKey = String(((await client.call("CreateKey", { ProtectionLevel: "HSM" })).KeyMetadata as Record<string, unknown>).KeyId);
        hsmResult = await load(client, hsmKey, Math.min(DURATION_MS, 5000), CONCURRENCY);
      }
      await server.audit.idle();
      const chain = await verifyAuditChain(server.kdb);
      const rawOps = rawAesGcmOpsPerSec(2000);
      return {
        durationMs: DURATION_MS,
        concurrency: CONCURRENCY,
        transport: "HTTPS keep-alive; load generator in the same process (shares its CPU)",
        signature: "V1 HMAC-SHA1, nonce stored, audit record stored (group commit) before each response",
        store: "SQLite (WAL)",
        software,
        softwareConcurrency4: lowConcurrency,
        hsm: hsmResult,
        rawAesGcmOpsPerSec: rawOps,
        auditRecordsVerified: chain.records,
        auditChainOk: chain.ok,
        goal: { encryptPerSec: 5000, p99Ms: 10 },
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
