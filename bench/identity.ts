/**
 * `npm run bench -- identity`: ActionTrail LookupEvents over a KMS audit trail of 1,000,000 records
 * (IDENTITY_BENCH_RECORDS) with a role filter — the seed documents' query, the role spelled in lower
 * case as ACK's console does — and other filters; STS AssumeRole per second; beside the KMS's Encrypt
 * path in the same run. Every request is a signed V1 call over HTTPS keep-alive (atrest's own
 * KmsClient, one request at a time unless a concurrency is stated), against atrest kms and its
 * identity endpoint in this process (SQLite, WAL).
 *
 * The trail is written before the servers start, as one hash chain (chainAuditRows, the KMS's own
 * linking), spread over the last 6 days (inside LookupEvents' default 7-day window): 5% are calls of
 * AliyunCSManagedSecurityRole's sessions (Encrypt/Decrypt, 1 in 500 of them GenerateDataKey), 200
 * are a rarely used role's, the rest 50 RAM users'. The chain is verified at the end.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { chainAuditRows, ensureAuditHead, verifyAuditChain, type AuditRecord } from "../src/kms/audit-log.js";
import { KmsClient, type KmsParams } from "../src/kms/client/kms-client.js";
import { startKmsIdentityEndpoint } from "../src/kms/identity-endpoint.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { startKmsServer } from "../src/kms/server.js";
import { openKmsDatabase } from "../src/kms/store/database.js";

const RECORDS = Number(process.env.IDENTITY_BENCH_RECORDS ?? 1_000_000);
const QUERIES = Number(process.env.IDENTITY_BENCH_QUERIES ?? 300);
const DURATION_MS = Number(process.env.IDENTITY_BENCH_MS ?? 5000);
const ACCOUNT = "1234567890123456";
const ROLE = "AliyunCSManagedSecurityRole";
const RARE_ROLE = "rarely-used-role";
const WINDOW_MS = 6 * 86_400_000;
const STS = { version: "2015-04-01" };
const TRAIL = { version: "2020-07-06" };

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const ms = (v: number) => Math.round(v * 100) / 100;

function summary(latencies: number[]) {
  const s = [...latencies].sort((a, b) => a - b);
  return {
    count: s.length,
    p50Ms: ms(percentile(s, 50)),
    p99Ms: ms(percentile(s, 99)),
    maxMs: ms(s.at(-1) ?? 0),
  };
}

/** The i-th record of the synthetic trail (deterministic, so runs compare). */
function record(i: number, startMs: number, keyId: string): AuditRecord {
  const eventTime = startMs + Math.floor((i * WINDOW_MS) / RECORDS);
  const base = {
    eventTime,
    requestId: randomUUID().toUpperCase(),
    sourceIp: "127.0.0.1",
    keyId,
    keyVersionId: "",
    outcome: "Allowed" as const,
    errorCode: "",
    clientUid: "",
  };
  if (i % 20 === 0 || i % 5000 === 1) {
    const role = i % 20 === 0 ? ROLE : RARE_ROLE;
    const session = `cluster-${i % 7}`;
    const action = i % 10_000 === 0 ? "GenerateDataKey" : i % 40 === 0 ? "Encrypt" : "Decrypt";
    return {
      ...base,
      principal: role,
      accessKeyId: `STS.bench${String(i % 7).padStart(20, "0")}`,
      action,
      identityType: "assumed-role",
      principalId: `3${String(i % 3).padStart(18, "0")}:${session}`,
      userName: `${role}:${session}`,
      sessionCreatedAt: eventTime - 600_000,
    };
  }
  const user = `user-${i % 50}`;
  return {
    ...base,
    principal: user,
    accessKeyId: `LTAI${String(i % 50).padStart(20, "0")}`,
    action: ["Encrypt", "Decrypt", "DescribeKey", "ListKeys"][i % 4]!,
    ...(i % 4 === 3 ? { keyId: "" } : {}),
    identityType: "ram-user",
    principalId: `2${String(i % 50).padStart(18, "0")}`,
    userName: user,
  };
}

/** Writes the trail straight into the KMS's database (before the KMS starts), one chain. */
async function writeTrail(dataDir: string, keyId: string, startMs: number): Promise<number> {
  const kdb = await openKmsDatabase({ dataDir, migrate: true });
  const t0 = performance.now();
  try {
    await ensureAuditHead(kdb.db);
    const sqlite = kdb.sqlite;
    if (sqlite === undefined) throw new Error("the bench writes a SQLite store");
    let head = sqlite.prepare("SELECT seq, hash FROM audit_head WHERE id = 1").get() as {
      seq: number;
      hash: string;
    };
    const columns = Object.keys(chainAuditRows(head, [record(0, startMs, keyId)]).rows[0]!);
    const insert = sqlite.prepare(
      `INSERT INTO audit_events (${columns.join(", ")}) VALUES (${columns.map((c) => `@${c}`).join(", ")})`,
    );
    const setHead = sqlite.prepare("UPDATE audit_head SET seq = @seq, hash = @hash WHERE id = 1");
    const batch = sqlite.transaction((rows: Record<string, unknown>[], next: typeof head) => {
      for (const r of rows) insert.run(r);
      setHead.run(next);
    });
    for (let from = 0; from < RECORDS; from += 10_000) {
      const records: AuditRecord[] = [];
      for (let i = from; i < Math.min(RECORDS, from + 10_000); i++) records.push(record(i, startMs, keyId));
      const chained = chainAuditRows(head, records);
      batch(chained.rows, chained.head);
      head = chained.head;
    }
    return performance.now() - t0;
  } finally {
    await kdb.close();
  }
}

async function timed(n: number, f: (i: number) => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f(i);
    out.push(performance.now() - t0);
  }
  return out;
}

/** LookupEvents latency for one set of parameters; checks every page holds what was asked for. */
async function lookup(
  client: KmsClient,
  params: KmsParams,
  check: (events: Array<Record<string, unknown>>) => void,
) {
  await timed(10, async () => void (await client.call("LookupEvents", params, TRAIL)));
  let returned = 0;
  const latencies = await timed(QUERIES, async () => {
    const r = await client.call("LookupEvents", params, TRAIL);
    const events = r["Events"] as Array<Record<string, unknown>>;
    check(events);
    returned = events.length;
  });
  return { eventsPerPage: returned, ...summary(latencies) };
}

const roleOf = (e: Record<string, unknown>) =>
  String((e["userIdentity"] as Record<string, unknown>)["userName"]).split(":")[0];

async function throughput(concurrency: number, f: () => Promise<void>) {
  let n = 0;
  let errors = 0;
  const latencies: number[] = [];
  const end = performance.now() + DURATION_MS;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await f();
          n++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return {
    concurrency,
    perSec: Math.round(n / ((performance.now() - started) / 1000)),
    errors,
    ...summary(latencies),
  };
}

export async function run(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "atrest-identity-bench-"));
  const dataDir = join(dir, "kms");
  try {
    const init = await initKmsDataDir({ dataDir, accountId: ACCOUNT });
    const creds = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    // A key for the Encrypt baseline, created by a first start of the KMS.
    let server = await startKmsServer({ dataDir, schedulerIntervalMs: 0 });
    const setup = new KmsClient({ endpoint: server.url, ...creds, caFile: init.caCertFile });
    const keyId = String(
      ((await setup.call("CreateKey", {})).KeyMetadata as Record<string, unknown> | undefined)?.["KeyId"],
    );
    setup.close();
    await server.close();

    const startMs = Date.now() - WINDOW_MS - 60_000;
    const writeMs = await writeTrail(dataDir, keyId, startMs);

    server = await startKmsServer({ dataDir, schedulerIntervalMs: 0 });
    const identity = await startKmsIdentityEndpoint(server, { dataDir });
    const kms = new KmsClient({ endpoint: server.url, ...creds, caFile: init.caCertFile });
    const iam = new KmsClient({ endpoint: identity.url, ...creds, caFile: init.caCertFile });
    try {
      // The query plan SQLite chose for the role filter (the LookupEvents index, migration 0004).
      const reader = new Database(join(dataDir, "kms.db"), { readonly: true });
      const plan = (
        reader
          .prepare(
            "EXPLAIN QUERY PLAN SELECT * FROM audit_events WHERE event_time >= ? AND event_time <= ? AND lower(principal) = ? ORDER BY event_time DESC, seq DESC LIMIT 21",
          )
          .all(0, Date.now(), ROLE.toLowerCase()) as Array<{ detail: string }>
      ).map((r) => r.detail);
      reader.close();

      const encryptOne = async () => {
        await kms.call("Encrypt", { KeyId: keyId, Plaintext: "YmVuY2htYXJr" });
      };
      await timed(20, encryptOne);
      const encryptSequential = summary(await timed(QUERIES, encryptOne));

      const attr = (key: string, value: string, n = 1) => ({
        [`LookupAttribute.${n}.Key`]: key,
        [`LookupAttribute.${n}.Value`]: value,
      });
      const onlyRole = (role: string) => (events: Array<Record<string, unknown>>) => {
        if (events.length === 0 || events.some((e) => roleOf(e) !== role))
          throw new Error(`LookupEvents answered events that are not ${role}'s`);
      };
      const roleLowercase = await lookup(
        iam,
        { ...attr("UserName", ROLE.toLowerCase()), MaxResults: 20 },
        onlyRole(ROLE),
      );
      const roleAndDecrypt = await lookup(
        iam,
        { ...attr("UserName", ROLE.toLowerCase()), ...attr("EventName", "Decrypt", 2), MaxResults: 50 },
        onlyRole(ROLE),
      );
      const roleAndRareEvent = await lookup(
        iam,
        {
          ...attr("UserName", ROLE.toLowerCase()),
          ...attr("EventName", "GenerateDataKey", 2),
          MaxResults: 50,
        },
        onlyRole(ROLE),
      );
      const rareRole = await lookup(iam, { ...attr("User", RARE_ROLE), MaxResults: 50 }, onlyRole(RARE_ROLE));
      const noFilter = await lookup(iam, { MaxResults: 20 }, (e) => {
        if (e.length !== 20) throw new Error("a page of 20 expected");
      });
      // Paging: the role's events 20 at a time, following NextToken (each page timed).
      let token = "";
      const pages = await timed(Math.min(QUERIES, 200), async () => {
        const r = await iam.call(
          "LookupEvents",
          {
            ...attr("UserName", ROLE.toLowerCase()),
            MaxResults: 20,
            ...(token === "" ? {} : { NextToken: token }),
          },
          TRAIL,
        );
        onlyRole(ROLE)(r["Events"] as Array<Record<string, unknown>>);
        token = String(r["NextToken"]);
      });

      // AssumeRole: the admin assumes a role trusting the account.
      await iam.call(
        "CreateRole",
        {
          RoleName: "bench-role",
          AssumeRolePolicyDocument: JSON.stringify({
            Version: "1",
            Statement: [
              { Effect: "Allow", Action: "sts:AssumeRole", Principal: { RAM: [`acs:ram::${ACCOUNT}:root`] } },
            ],
          }),
        },
        { version: "2015-05-01" },
      );
      let sessions = 0;
      const assume = async () => {
        const r = await iam.call(
          "AssumeRole",
          { RoleArn: `acs:ram::${ACCOUNT}:role/bench-role`, RoleSessionName: `s${sessions++}` },
          STS,
        );
        if (!String((r["Credentials"] as Record<string, unknown>)["AccessKeyId"]).startsWith("STS."))
          throw new Error("no STS key");
      };
      await timed(20, assume);
      const assumeRoleSequential = await throughput(1, assume);
      const assumeRoleConcurrent = await throughput(8, assume);
      const encryptConcurrent = await throughput(8, encryptOne);

      await server.journal.idle();
      const v0 = performance.now();
      const chain = await verifyAuditChain(server.kdb);
      const verifyMs = performance.now() - v0;
      return {
        records: RECORDS,
        queriesPerCase: QUERIES,
        transport: "HTTPS keep-alive, signature V1, one request at a time unless concurrency is stated",
        store: "SQLite (WAL), the KMS's database (audit_events + the identity tables)",
        trailWriteMs: Math.round(writeMs),
        roleFilterQueryPlan: plan,
        baselineKmsEncrypt: encryptSequential,
        lookupEvents: {
          roleLowercase,
          roleAndDecrypt,
          roleAndRareEvent,
          rareRole,
          noFilter,
          rolePagesFollowingNextToken: summary(pages),
        },
        assumeRole: { sequential: assumeRoleSequential, concurrency8: assumeRoleConcurrent },
        baselineKmsEncryptConcurrency8: encryptConcurrent,
        auditChain: { ...chain, verifyMs: Math.round(verifyMs) },
      };
    } finally {
      kms.close();
      iam.close();
      await identity.close();
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
