import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { sql } from "kysely";
import { verifyAuditChain } from "../src/kms/audit-log.js";
import {
  TEST_ACCOUNT_ID,
  callRpc,
  startIdentityStack,
  type IdentityStack,
} from "./support/identity-stack.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

/**
 * LookupEvents on a KMS whose database is PostgreSQL: the user + event name filter (one indexed
 * expression, migration 0005) answers the same as on SQLite, for a user and for an assumed role's
 * sessions, and PostgreSQL can answer it from the index.
 */
let pg: TestPostgres;
let stack: IdentityStack;
type Creds = { accessKeyId: string; accessKeySecret: string; securityToken?: string };
let session: Creds;

const lookup = (query: Record<string, string>) =>
  callRpc(stack.identity.url, stack.caPem, stack.admin, {
    action: "LookupEvents",
    version: "2020-07-06",
    query,
  });
const kms = (c: Creds, action: string, query: Record<string, string>) =>
  callRpc(stack.kms.url, stack.caPem, c, { action, version: "2016-01-20", query });
type Event = { eventName: string; userIdentity: { type: string; userName: string } };
const byUserAndEvent = async (user: string, eventName: string) =>
  (
    (
      await lookup({
        "LookupAttribute.1.Key": "User",
        "LookupAttribute.1.Value": user,
        "LookupAttribute.2.Key": "EventName",
        "LookupAttribute.2.Value": eventName,
      })
    )["Events"] as Event[]
  ).map((e) => `${e.eventName} ${e.userIdentity.type} ${e.userIdentity.userName}`);

before(async () => {
  pg = await startTestPostgres();
  stack = await startIdentityStack("events-pg", { database: pg.url });
  await stack.kms.identity.createPrincipal("pg-role", "role", {
    trustPolicy: JSON.stringify({
      Version: "1",
      Statement: [
        {
          Action: "sts:AssumeRole",
          Effect: "Allow",
          Principal: { RAM: [`acs:ram::${TEST_ACCOUNT_ID}:root`] },
        },
      ],
    }),
  });
  await stack.kms.identity.attachPolicy("AliyunKMSFullAccess", "pg-role", "role");
  const keyId = ((await kms(stack.admin, "CreateKey", {}))["KeyMetadata"] as { KeyId: string }).KeyId;
  const assumed = await callRpc(stack.identity.url, stack.caPem, stack.admin, {
    action: "AssumeRole",
    version: "2015-04-01",
    query: { RoleArn: `acs:ram::${TEST_ACCOUNT_ID}:role/pg-role`, RoleSessionName: "cluster-pg" },
  });
  const c = assumed["Credentials"] as Record<string, string>;
  session = {
    accessKeyId: c["AccessKeyId"]!,
    accessKeySecret: c["AccessKeySecret"]!,
    securityToken: c["SecurityToken"]!,
  };
  const plaintext = Buffer.from("pg").toString("base64");
  const blob = String(
    (await kms(stack.admin, "Encrypt", { KeyId: keyId, Plaintext: plaintext }))["CiphertextBlob"],
  );
  await kms(stack.admin, "Encrypt", { KeyId: keyId, Plaintext: plaintext });
  await kms(stack.admin, "Decrypt", { CiphertextBlob: blob });
  await kms(session, "Encrypt", { KeyId: keyId, Plaintext: plaintext });
});
after(async () => {
  await stack?.close();
  await pg?.stop();
});

test("user + event name on PostgreSQL: users, roles in any case, role:session", async () => {
  assert.deepEqual(await byUserAndEvent("ADMIN", "Encrypt"), [
    "Encrypt ram-user admin",
    "Encrypt ram-user admin",
  ]);
  assert.deepEqual(await byUserAndEvent("admin", "Decrypt"), ["Decrypt ram-user admin"]);
  assert.deepEqual(await byUserAndEvent("PG-ROLE", "Encrypt"), ["Encrypt assumed-role pg-role:cluster-pg"]);
  assert.deepEqual(await byUserAndEvent("pg-role:cluster-pg", "Encrypt"), [
    "Encrypt assumed-role pg-role:cluster-pg",
  ]);
  assert.deepEqual(await byUserAndEvent("pg-role:other-session", "Encrypt"), []);
  assert.deepEqual(await byUserAndEvent("pg-role", "Decrypt"), []);
  assert.deepEqual(await byUserAndEvent("admin/Encrypt", "Encrypt"), [], "a '/' in a name matches nothing");
  assert.equal((await verifyAuditChain(stack.kms.kdb)).ok, true);
});

test("PostgreSQL can answer the user + event name filter from migration 0005's index", async () => {
  const plan = await stack.kms.kdb.db.transaction().execute(async (tx) => {
    await sql`SET LOCAL enable_seqscan = off`.execute(tx);
    const r = await sql<{ "QUERY PLAN": string }>`EXPLAIN SELECT seq FROM audit_events
      WHERE lower(principal) || '/' || action = ${"admin/Encrypt"}
      ORDER BY event_time DESC, seq DESC LIMIT 21`.execute(tx);
    return r.rows.map((row) => row["QUERY PLAN"]).join("\n");
  });
  assert.match(plan, /audit_by_principal_action_lc/);
});
