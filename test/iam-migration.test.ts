import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Kysely, Migrator, SqliteDialect, type Migration } from "kysely";
import { sealAccessKeySecret } from "../src/iam/index.js";
import { auditHash, chainAuditRows, GENESIS_HASH, verifyAuditChain } from "../src/kms/audit-log.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { kmsPaths } from "../src/kms/kms-files.js";
import { loadRootKeyFile } from "../src/kms/root-key.js";
import { startKmsServer } from "../src/kms/server.js";
import { kmsMigrations } from "../src/kms/store/database.js";
import { callRpc } from "./support/identity-stack.js";
import { startKmsIdentityEndpoint } from "../src/kms/identity-endpoint.js";
import { readFileSync } from "node:fs";

/**
 * A key store written before identity had a module of its own (KMS migrations 0001-0003 only: no
 * principal types or ids, audit records without identity columns) keeps working after the upgrade:
 * its principal signs requests, gets a RAM UserId, its old audit records still verify and answer
 * LookupEvents, and new records (with identity) chain onto them.
 */
test("a pre-identity key store upgrades in place: principals, access keys and the audit chain keep working", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-iam-migration-"));
  const dataDir = join(dir, "kms");
  try {
    await initKmsDataDir({ dataDir, accountId: "1234567890123456" });
    const rootKey = loadRootKeyFile(kmsPaths(dataDir).rootKey);
    // Replace the fresh database with one at the old schema.
    for (const f of ["kms.db", "kms.db-wal", "kms.db-shm"]) rmSync(join(dataDir, f), { force: true });
    const sqlite = new Database(join(dataDir, "kms.db"));
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: sqlite }) });
    const all = kmsMigrations("sqlite");
    const old: Record<string, Migration> = {};
    for (const name of ["0001-initial", "0002-nonce-digests", "0003-audit-request-count-forced"])
      old[name] = all[name]!;
    const migrated = await new Migrator({
      db,
      provider: { getMigrations: () => Promise.resolve(old) },
      migrationTableName: "kms_migrations",
      migrationLockTableName: "kms_migrations_lock",
    }).migrateToLatest();
    assert.equal(migrated.error, undefined);
    const secret = "legacysecretlegacysecret123456";
    const insert = (sqlText: string, ...values: unknown[]) => sqlite.prepare(sqlText).run(...values);
    insert("insert into principals (principal_name, created_at) values (?, ?)", "legacy", 1);
    insert(
      "insert into access_keys (access_key_id, principal_name, secret_wrapped, created_at) values (?, ?, ?, ?)",
      "LTAIlegacy0000000000000",
      "legacy",
      sealAccessKeySecret(rootKey, "LTAIlegacy0000000000000", secret),
      1,
    );
    insert(
      "insert into attachments (policy_name, principal_name, created_at) values (?, ?, ?)",
      "AliyunKMSFullAccess",
      "legacy",
      1,
    );
    // Two audit records as the old code wrote them (no identity columns; the old hash).
    const { rows, head } = chainAuditRows({ seq: 0, hash: GENESIS_HASH }, [
      {
        eventTime: Date.now() - 60_000,
        requestId: "OLD-1",
        principal: "legacy",
        accessKeyId: "LTAIlegacy0000000000000",
        sourceIp: "127.0.0.1",
        action: "ListKeys",
        keyId: "",
        keyVersionId: "",
        outcome: "Allowed",
        errorCode: "",
        clientUid: "",
      },
      {
        eventTime: Date.now() - 30_000,
        requestId: "OLD-2",
        principal: "legacy",
        accessKeyId: "LTAIlegacy0000000000000",
        sourceIp: "127.0.0.1",
        action: "CreateKey",
        keyId: "key-old",
        keyVersionId: "v1",
        outcome: "Allowed",
        errorCode: "",
        clientUid: "",
      },
    ]);
    for (const r of rows) {
      const { identity_type: _a, principal_id: _b, user_name: _c, session_created_at: _d, ...oldRow } = r;
      assert.equal(auditHash(r), r.hash);
      const cols = Object.keys(oldRow);
      insert(
        `insert into audit_events (${cols.join(", ")}) values (${cols.map(() => "?").join(", ")})`,
        ...cols.map((c) => (oldRow as Record<string, unknown>)[c]),
      );
    }
    insert("insert into audit_head (id, seq, hash) values (1, ?, ?)", head.seq, head.hash);
    await db.destroy();

    const kms = await startKmsServer({ dataDir, schedulerIntervalMs: 0 });
    const endpoint = await startKmsIdentityEndpoint(kms, { dataDir });
    try {
      const legacy = await kms.identity.getPrincipal("legacy");
      assert.equal(legacy.principal_type, "user");
      assert.match(legacy.principal_id, /^\d{16}$/);
      const caPem = readFileSync(kmsPaths(dataDir).caCert, "utf8");
      const creds = { accessKeyId: "LTAIlegacy0000000000000", accessKeySecret: secret };
      await callRpc(kms.url, caPem, creds, { action: "ListKeys", version: "2016-01-20" });
      // legacy holds AliyunKMSFullAccess only: grant it the trail, as an operator upgrading would.
      await kms.identity.attachPolicy("AliyunActionTrailReadOnlyAccess", "legacy");
      assert.deepEqual(await verifyAuditChain(kms.kdb).then((v) => [v.ok, v.records]), [true, 3]);
      const found = await callRpc(endpoint.url, caPem, creds, {
        action: "LookupEvents",
        version: "2020-07-06",
        query: { "LookupAttribute.1.Key": "User", "LookupAttribute.1.Value": "LEGACY", MaxResults: "50" },
      });
      const evs = found["Events"] as Array<{ eventId: string; userIdentity: Record<string, string> }>;
      assert.deepEqual(evs.map((e) => e.eventId).slice(1), ["OLD-2", "OLD-1"]);
      assert.deepEqual(
        [evs[2]!.userIdentity["type"], evs[2]!.userIdentity["userName"]],
        ["ram-user", "legacy"],
      );
      // The new record carries the identity and is in the chain.
      assert.equal(evs[0]!.userIdentity["principalId"], legacy.principal_id);
    } finally {
      await endpoint.close();
      await kms.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
