/**
 * `npm run bench -- identity`: ActionTrail LookupEvents over a KMS audit trail of 1,000,000 records
 * (IDENTITY_BENCH_RECORDS) with a role filter — the seed documents' query, the role spelled in lower
 * case as ACK's console does — and other filters; STS AssumeRole per second; beside the KMS's Encrypt
 * path in the same run. Every request is a signed V1 call over HTTPS keep-alive (atrest's own
 * KmsClient, one request at a time unless a concurrency is stated), against atrest kms and its
 * identity endpoint in this process (SQLite, WAL).
 *
 * The trail (bench/support-trail.ts) is written before the servers start, as one hash chain; the
 * chain is verified at the end.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { verifyAuditChain } from "../src/kms/audit-log.js";
import { KmsClient, type KmsParams } from "../src/kms/client/kms-client.js";
import { startKmsIdentityEndpoint } from "../src/kms/identity-endpoint.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { startKmsServer } from "../src/kms/server.js";
import { summary, throughput as throughputFor, timed } from "./support-latency.js";
import {
  TRAIL_RARE_ROLE as RARE_ROLE,
  TRAIL_ROLE as ROLE,
  TRAIL_WINDOW_MS as WINDOW_MS,
  writeTrail,
} from "./support-trail.js";

const RECORDS = Number(process.env.IDENTITY_BENCH_RECORDS ?? 1_000_000);
const QUERIES = Number(process.env.IDENTITY_BENCH_QUERIES ?? 300);
const DURATION_MS = Number(process.env.IDENTITY_BENCH_MS ?? 5000);
const ACCOUNT = "1234567890123456";
const STS = { version: "2015-04-01" };
const TRAIL = { version: "2020-07-06" };

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

const throughput = (concurrency: number, f: () => Promise<void>) =>
  throughputFor(concurrency, DURATION_MS, f);

const roleOf = (e: Record<string, unknown>) =>
  String((e["userIdentity"] as Record<string, unknown>)["userName"]).split(":")[0];

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
    const writeMs = await writeTrail(dataDir, keyId, startMs, RECORDS);

    server = await startKmsServer({ dataDir, schedulerIntervalMs: 0 });
    const identity = await startKmsIdentityEndpoint(server, { dataDir });
    const kms = new KmsClient({ endpoint: server.url, ...creds, caFile: init.caCertFile });
    const iam = new KmsClient({ endpoint: identity.url, ...creds, caFile: init.caCertFile });
    try {
      // The query plans SQLite chooses for the role filter, alone (migration 0004's index) and with
      // an event name (0005's; src/kms/audit-events.ts adds this condition).
      const reader = new Database(join(dataDir, "kms.db"), { readonly: true });
      const planOf = (where: string, value: string) =>
        (
          reader
            .prepare(
              `EXPLAIN QUERY PLAN SELECT * FROM audit_events WHERE event_time >= ? AND event_time <= ? AND ${where} = ? ORDER BY event_time DESC, seq DESC LIMIT 21`,
            )
            .all(0, Date.now(), value) as Array<{ detail: string }>
        ).map((r) => r.detail);
      const plan = {
        role: planOf("lower(principal)", ROLE.toLowerCase()),
        roleAndEventName: planOf("lower(principal) || '/' || action", `${ROLE.toLowerCase()}/Decrypt`),
      };
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
        queryPlans: plan,
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
