/**
 * `npm run bench -- control-plane`: the control plane's signed APIs beside the KMS's Encrypt path
 * (the baseline) in the same run, all over HTTPS keep-alive against servers in this process (SQLite,
 * WAL: the KMS's database, which the control plane shares for identity, its tables and its events).
 *
 * - DescribeClusterDetail per second: the official `@alicloud/cs20151215` client (signature V3,
 *   unmodified but for its endpoint), atrest's own V3 client at the same wire (CsClient) and
 *   `@alicloud/pop-core`'s ROAClient (the older ROA signature, `acs AK:sig`), one request at a time
 *   and 8 at once; every answer checked (`state` running, the key in meta_data).
 * - LookupEvents (ActionTrail 2020-07-06, signature V1) against the control plane's endpoint, which
 *   merges the KMS's audit trail with its own events (trail_events: every DescribeClusterDetail above
 *   is one), over CP_BENCH_RECORDS (1,000,000) audit records (bench/support-trail.ts): the seed
 *   documents' check — user name `aliyuncsmanagedsecurityrole` (lower case, as ACK's console), alone
 *   and with EventName Encrypt / Decrypt — p50/p99 (goal p99 ≤ 100 ms), each page checked to hold
 *   only that role's events of that name; and LookupEvents per second with that filter.
 * - The query plans SQLite chooses for the role filter in both sources.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { CsClient, startControlPlane } from "../src/control-plane/index.js";
import { verifyAuditChain } from "../src/kms/audit-log.js";
import { KmsClient, type KmsParams } from "../src/kms/client/kms-client.js";
import { ADMIN_PRINCIPAL } from "../src/kms/index.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { startKmsServer } from "../src/kms/server.js";
import { summary, throughput, timed } from "./support-latency.js";
import { TRAIL_ROLE, TRAIL_WINDOW_MS, writeTrail } from "./support-trail.js";

const RECORDS = Number(process.env.CP_BENCH_RECORDS ?? 1_000_000);
const QUERIES = Number(process.env.CP_BENCH_QUERIES ?? 300);
const DURATION_MS = Number(process.env.CP_BENCH_MS ?? 5000);
const ACCOUNT = "1234567890123456";
const CLUSTER_ID = "c0123456789abcdef0123456789abcdef";
const TRAIL = { version: "2020-07-06" };

const require = createRequire(import.meta.url);
type SdkClient = Record<string, (...args: unknown[]) => Promise<unknown>>;
const csSdk = require("@alicloud/cs20151215") as { default: new (config: unknown) => SdkClient };
const openapiCore = require("@alicloud/openapi-core") as {
  $OpenApiUtil: { Config: new (c: Record<string, unknown>) => unknown };
};
const { ROAClient } = require("@alicloud/pop-core") as {
  ROAClient: new (config: Record<string, unknown>) => {
    get(path: string, query?: Record<string, string>): Promise<unknown>;
  };
};

type TrailEvent = Record<string, unknown>;
const roleOf = (e: TrailEvent) =>
  String((e["userIdentity"] as Record<string, unknown>)["userName"]).split(":")[0];

/** A page must be non-empty and hold only the role's events (of one name, when given). */
function onlyRole(events: TrailEvent[], eventName?: string): void {
  if (events.length === 0) throw new Error("LookupEvents found none of the role's events");
  for (const e of events) {
    if (roleOf(e) !== TRAIL_ROLE) throw new Error(`LookupEvents answered an event of ${String(roleOf(e))}`);
    if (eventName !== undefined && e["eventName"] !== eventName)
      throw new Error(`LookupEvents answered ${String(e["eventName"])} for EventName ${eventName}`);
  }
}

/**
 * A cluster's detail must be the one registered: running, encrypted under the key (the wire's names,
 * or the SDK model's).
 */
function checkDetail(body: unknown, keyId: string): void {
  const d = body as Record<string, string | undefined>;
  if ((d["cluster_id"] ?? d["clusterId"]) !== CLUSTER_ID || d["state"] !== "running")
    throw new Error(`DescribeClusterDetail: ${JSON.stringify(d).slice(0, 200)}`);
  const meta = JSON.parse(d["meta_data"] ?? d["metaData"] ?? "{}") as { EncryptionKMSKeyId?: string };
  if (meta.EncryptionKMSKeyId !== keyId) throw new Error("DescribeClusterDetail: meta_data without the key");
}

export async function run(): Promise<Record<string, unknown>> {
  // The machine's load beside the figures: on a shared machine the tails follow it (the baseline
  // in the same run shows by how much).
  const loadBefore = loadavg().map((v) => Math.round(v * 10) / 10);
  const dir = mkdtempSync(join(tmpdir(), "atrest-cp-bench-"));
  const dataDir = join(dir, "kms");
  try {
    const init = await initKmsDataDir({ dataDir, accountId: ACCOUNT });
    const creds = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    const caPem = readFileSync(init.caCertFile, "utf8");
    // A key for the Encrypt baseline and the cluster, created by a first start of the KMS.
    let kms = await startKmsServer({ dataDir, schedulerIntervalMs: 0 });
    const setup = new KmsClient({ endpoint: kms.url, ...creds, caFile: init.caCertFile });
    const keyId = String(
      ((await setup.call("CreateKey", {})).KeyMetadata as Record<string, unknown> | undefined)?.["KeyId"],
    );
    setup.close();
    await kms.close();

    const startMs = Date.now() - TRAIL_WINDOW_MS - 60_000;
    const writeMs = await writeTrail(dataDir, keyId, startMs, RECORDS);

    kms = await startKmsServer({ dataDir, schedulerIntervalMs: 0 });
    await kms.identity.attachPolicy("AliyunCSFullAccess", ADMIN_PRINCIPAL);
    const cp = await startControlPlane({
      identity: kms.identity,
      idb: kms.idb,
      accountId: kms.accountId,
      regionId: kms.region,
      eventSources: [kms.eventSource],
      // DescribeClusterDetail and LookupEvents drive no operation: no engine is ever opened.
      engines: () => {
        throw new Error("the benchmark starts no operation");
      },
      tls: {
        keyPem: readFileSync(join(dataDir, "tls", "tls.key"), "utf8"),
        certPem: readFileSync(join(dataDir, "tls", "tls.crt"), "utf8"),
      },
      startTasks: false,
    });
    // A registered cluster, encrypted under the key (the row registration writes; no apiserver needed
    // to describe it), the admin its administrator.
    const now = Date.now();
    await cp.service.store.insertCluster({
      cluster_id: CLUSTER_ID,
      name: "bench",
      region_id: kms.region,
      cluster_file: join(dir, "cluster.yaml"),
      state: "running",
      kms_key_id: keyId,
      disable_encryption: 0,
      current_task_id: null,
      failure_reason: "",
      last_change_at: 0,
      created_by: ADMIN_PRINCIPAL,
      created_at: now,
      updated_at: now,
    });
    await cp.service.store.grantRole(CLUSTER_ID, ADMIN_PRINCIPAL, "admin", "bench", now);

    const kmsClient = new KmsClient({ endpoint: kms.url, ...creds, caFile: init.caCertFile });
    const trail = new KmsClient({ endpoint: cp.url, ...creds, caFile: init.caCertFile });
    const { host, protocol } = new URL(cp.url);
    const sdk = new csSdk.default(
      new openapiCore.$OpenApiUtil.Config({
        ...creds,
        endpoint: host,
        protocol: protocol.replace(":", ""),
        regionId: kms.region,
        ca: caPem,
      }),
    );
    const own = new CsClient({ endpoint: cp.url, ...creds, caPem });
    const roa = new ROAClient({ endpoint: cp.url, apiVersion: "2015-12-15", ...creds, opts: { ca: caPem } });
    try {
      const encrypt = async () => {
        await kmsClient.call("Encrypt", { KeyId: keyId, Plaintext: "YmVuY2htYXJr" });
      };
      const describeSdk = async () => {
        const r = (await sdk["describeClusterDetail"]!(CLUSTER_ID)) as { body: unknown };
        checkDetail(r.body, keyId);
      };
      const describeOwn = async () => {
        checkDetail((await own.call("DescribeClusterDetail", "GET", `/clusters/${CLUSTER_ID}`)).body, keyId);
      };
      const describeRoa = async () => {
        checkDetail(await roa.get(`/clusters/${CLUSTER_ID}`), keyId);
      };
      await timed(20, encrypt);
      await timed(20, describeRoa);
      await timed(20, describeSdk);
      await timed(20, describeOwn);
      const baselineEncrypt = {
        sequential: await throughput(1, DURATION_MS, encrypt),
        concurrency8: await throughput(8, DURATION_MS, encrypt),
      };
      const describeClusterDetail = {
        officialSdk: {
          sequential: await throughput(1, DURATION_MS, describeSdk),
          concurrency8: await throughput(8, DURATION_MS, describeSdk),
        },
        atrestV3Client: {
          sequential: await throughput(1, DURATION_MS, describeOwn),
          concurrency8: await throughput(8, DURATION_MS, describeOwn),
        },
        popCoreRoaClient: {
          sequential: await throughput(1, DURATION_MS, describeRoa),
          concurrency8: await throughput(8, DURATION_MS, describeRoa),
        },
      };

      const attr = (key: string, value: string, n = 1) => ({
        [`LookupAttribute.${n}.Key`]: key,
        [`LookupAttribute.${n}.Value`]: value,
      });
      const role = TRAIL_ROLE.toLowerCase();
      const query = async (params: KmsParams, eventName?: string) => {
        const r = await trail.call("LookupEvents", params, TRAIL);
        onlyRole(r["Events"] as TrailEvent[], eventName);
      };
      const latency = async (params: KmsParams, eventName?: string) => {
        await timed(10, () => query(params, eventName));
        return summary(await timed(QUERIES, () => query(params, eventName)));
      };
      const roleOnly = { ...attr("UserName", role), MaxResults: 20 };
      const lookupEvents = {
        roleOnly: await latency(roleOnly),
        roleAndEncrypt: await latency(
          { ...attr("UserName", role), ...attr("EventName", "Encrypt", 2), MaxResults: 50 },
          "Encrypt",
        ),
        roleAndDecrypt: await latency(
          { ...attr("UserName", role), ...attr("EventName", "Decrypt", 2), MaxResults: 50 },
          "Decrypt",
        ),
        perSecondRoleOnly: {
          sequential: await throughput(1, DURATION_MS, () => query(roleOnly)),
          concurrency8: await throughput(8, DURATION_MS, () => query(roleOnly)),
        },
      };

      // The plans SQLite chooses for the role filter (as the two sources query), and the size of
      // the control plane's own trail by now.
      const reader = new Database(join(dataDir, "kms.db"), { readonly: true });
      const plan = (q: string, ...args: unknown[]) =>
        (reader.prepare(`EXPLAIN QUERY PLAN ${q}`).all(...args) as Array<{ detail: string }>).map(
          (r) => r.detail,
        );
      const window = [Date.now() - 7 * 86_400_000, Date.now()];
      const queryPlans = {
        kmsAuditRole: plan(
          "SELECT * FROM audit_events WHERE event_time >= ? AND event_time <= ? AND lower(principal) = ? ORDER BY event_time DESC, seq DESC LIMIT 21",
          ...window,
          role,
        ),
        kmsAuditRoleAndEventName: plan(
          "SELECT * FROM audit_events WHERE event_time >= ? AND event_time <= ? AND lower(principal) || '/' || action = ? ORDER BY event_time DESC, seq DESC LIMIT 51",
          ...window,
          `${role}/Decrypt`,
        ),
        controlPlaneTrailRole: plan(
          "SELECT seq, event_time, record FROM trail_events WHERE event_time >= ? AND event_time <= ? AND user_key = ? ORDER BY event_time DESC, seq DESC LIMIT 21",
          ...window,
          role,
        ),
      };
      const controlPlaneTrailEvents = (
        reader.prepare("SELECT count(*) AS n FROM trail_events").get() as { n: number }
      ).n;
      reader.close();

      await kms.journal.idle();
      const chain = await verifyAuditChain(kms.kdb);
      return {
        records: RECORDS,
        machine: {
          cpus: cpus().length,
          loadAverage1m5m15mBefore: loadBefore,
          loadAverage1m5m15mAfter: loadavg().map((v) => Math.round(v * 10) / 10),
        },
        queriesPerCase: QUERIES,
        durationMsPerThroughputCase: DURATION_MS,
        transport:
          "HTTPS keep-alive; cs API signature V3 (pop-core: ROA acs AK:sig), LookupEvents and Encrypt signature V1",
        store: "SQLite (WAL): the KMS's database, shared by the control plane",
        trailWriteMs: Math.round(writeMs),
        baselineKmsEncrypt: baselineEncrypt,
        describeClusterDetail,
        lookupEvents,
        controlPlaneTrailEvents,
        queryPlans,
        auditChain: chain,
      };
    } finally {
      kmsClient.close();
      trail.close();
      await cp.close();
      await kms.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
