import type { Command } from "commander";
import { AtrestError } from "../common/errors.js";
import { createLogger } from "../common/logger.js";
import { auditUsage, queryAuditEvents, verifyAuditChain, type AuditQuery } from "../kms/audit-log.js";
import { initKmsDataDir } from "../kms/init.js";
import { readKmsConfig } from "../kms/kms-files.js";
import { parseListen, startKmsServer } from "../kms/server.js";
import { startKmsIdentityEndpoint } from "../kms/identity-endpoint.js";
import type { IdentityServer } from "../iam/index.js";
import { openKmsDatabase, type KmsDb } from "../kms/store/database.js";
import { registerKmsAdminCommands } from "./kms-admin.js";
import { registerKmsBackupCommands } from "./kms-backup.js";
import { loadHsm } from "./pkcs11-flags.js";
import { serveUntilSignal } from "./until-signal.js";

function parseTime(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || !Number.isFinite(ms))
    throw new AtrestError("invalid-argument", `${flag}: must be an RFC 3339 time like 2026-01-01T00:00:00Z`);
  return ms;
}

async function withStore<T>(
  opts: { dataDir: string; database?: string },
  fn: (kdb: KmsDb) => Promise<T>,
): Promise<T> {
  readKmsConfig(opts.dataDir); // fails clearly on a dir that `atrest kms init` did not create
  const kdb = await openKmsDatabase({ dataDir: opts.dataDir, database: opts.database, migrate: true });
  try {
    return await fn(kdb);
  } finally {
    await kdb.close();
  }
}

function print(output: string | undefined, json: unknown, text: () => string): void {
  process.stdout.write(output === "json" ? JSON.stringify(json, null, 2) + "\n" : text());
}

/** `atrest kms …`: init, serve and the audit tools; the admin commands come from kms-admin.ts. */
export function registerKms(program: Command): void {
  const kms = program
    .command("kms")
    .description("the atrest KMS server (Alibaba Cloud KMS API compatible)")
    .option(
      "--profile <file>",
      "client profile JSON for the admin commands (also accepted after the command)",
    );

  kms
    .command("init")
    .description("create the root key, TLS CA + serving certificate and an admin access key in a data dir")
    .requiredOption("--data-dir <dir>", "the KMS data dir")
    .option("--database <url>", "postgres:// URL (default: SQLite in the data dir)")
    .option("--region <region>", "region in ARNs", "cn-hangzhou")
    .option("--account-id <id>", "account id in ARNs (default: random)")
    .option("-o, --output <format>", "json for JSON output")
    .action(
      async (opts: {
        dataDir: string;
        database?: string;
        region: string;
        accountId?: string;
        output?: string;
      }) => {
        const r = await initKmsDataDir({
          dataDir: opts.dataDir,
          region: opts.region,
          ...(opts.database === undefined ? {} : { database: opts.database }),
          ...(opts.accountId === undefined ? {} : { accountId: opts.accountId }),
        });
        print(
          opts.output,
          r,
          () =>
            `initialised ${r.dataDir}\n  CA certificate: ${r.caCertFile}\n  admin credentials: ${r.credentialsFile}\n`,
        );
      },
    );

  kms
    .command("serve")
    .description("serve the KMS API over HTTPS")
    .requiredOption("--data-dir <dir>", "the KMS data dir (from `atrest kms init`)")
    .option("--listen <host:port>", "address to listen on", "127.0.0.1:9443")
    .option("--database <url>", "postgres:// URL (default: SQLite in the data dir)")
    .option("--insecure-http", "plain HTTP (loopback only)")
    .option(
      "--identity-listen <host:port>",
      "also serve STS, RAM and ActionTrail LookupEvents (the identity endpoint) on this address",
    )
    .option("--pkcs11-module <path>", "PKCS#11 module for HSM keys (e.g. libsofthsm2.so)")
    .option("--pkcs11-token-label <label>", "PKCS#11 token label")
    .option("--pkcs11-pin-file <file>", "file holding the token user PIN")
    .option("--region <region>", "region in ARNs (default: from the data dir)")
    .option("--account-id <id>", "account id in ARNs (default: from the data dir)")
    .option("--scheduler-interval <seconds>", "how often rotation/purge run", "60")
    .option(
      "--max-rps-per-access-key <n>",
      "requests per second per access key before Rejected.Throttling (0 = unlimited)",
      "0",
    )
    .action(
      async (opts: {
        dataDir: string;
        listen: string;
        database?: string;
        insecureHttp?: boolean;
        identityListen?: string;
        pkcs11Module?: string;
        pkcs11TokenLabel?: string;
        pkcs11PinFile?: string;
        region?: string;
        accountId?: string;
        schedulerInterval: string;
        maxRpsPerAccessKey: string;
      }) => {
        const maxRps = Number(opts.maxRpsPerAccessKey);
        if (!Number.isFinite(maxRps) || maxRps < 0)
          throw new AtrestError(
            "invalid-argument",
            "--max-rps-per-access-key: must be a non-negative number",
          );
        const interval = Number(opts.schedulerInterval);
        if (!Number.isFinite(interval) || interval < 0)
          throw new AtrestError("invalid-argument", "--scheduler-interval: must be a number of seconds");
        // Checked before anything starts, so a bad address changes nothing.
        const identityAddress =
          opts.identityListen === undefined
            ? undefined
            : parseListen(opts.identityListen, "--identity-listen");
        const logger = createLogger({ name: "kms" });
        const hsm = await loadHsm(opts);
        const server = await startKmsServer({
          dataDir: opts.dataDir,
          listen: opts.listen,
          logger,
          schedulerIntervalMs: interval * 1000,
          maxRequestsPerSecondPerAccessKey: maxRps,
          ...(opts.database === undefined ? {} : { database: opts.database }),
          ...(opts.insecureHttp === true ? { insecureHttp: true } : {}),
          ...(hsm === undefined ? {} : { hsm }),
          ...(opts.region === undefined ? {} : { region: opts.region }),
          ...(opts.accountId === undefined ? {} : { accountId: opts.accountId }),
        });
        let identity: IdentityServer | undefined;
        if (identityAddress !== undefined) {
          const { host, port } = identityAddress;
          try {
            identity = await startKmsIdentityEndpoint(server, {
              dataDir: opts.dataDir,
              host,
              port,
              logger: logger.child({ part: "identity" }),
            });
          } catch (err) {
            await server.close();
            throw err;
          }
        }
        process.stdout.write(
          JSON.stringify({
            msg: "kms listening",
            url: server.url,
            ...(identity === undefined ? {} : { identityUrl: identity.url }),
          }) + "\n",
        );
        await serveUntilSignal(logger, async () => {
          await identity?.close();
          await server.close();
        });
        logger.flush();
      },
    );

  kms
    .command("events")
    .description("query the audit trail (reads the key store directly)")
    .requiredOption("--data-dir <dir>", "the KMS data dir")
    .option("--database <url>", "postgres:// URL")
    .option("--start <time>", "RFC 3339 start (inclusive)")
    .option("--end <time>", "RFC 3339 end (exclusive)")
    .option("--action <action>", "e.g. Encrypt")
    .option("--principal <name>", "principal name")
    .option("--key-id <id>", "key id")
    .option("--limit <n>", "at most this many events", "1000")
    .option("-o, --output <format>", "json for JSON output")
    .action(
      async (opts: {
        dataDir: string;
        database?: string;
        start?: string;
        end?: string;
        action?: string;
        principal?: string;
        keyId?: string;
        limit: string;
        output?: string;
      }) => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1)
          throw new AtrestError("invalid-argument", "--limit: must be a positive integer");
        const q: AuditQuery = { limit };
        const start = parseTime(opts.start, "--start");
        const end = parseTime(opts.end, "--end");
        if (start !== undefined) q.startMs = start;
        if (end !== undefined) q.endMs = end;
        if (opts.action !== undefined) q.action = opts.action;
        if (opts.principal !== undefined) q.principal = opts.principal;
        if (opts.keyId !== undefined) q.keyId = opts.keyId;
        const rows = await withStore(opts, (kdb) => queryAuditEvents(kdb, q));
        const events = rows.map((r) => ({
          seq: Number(r.seq),
          eventTime: new Date(Number(r.event_time)).toISOString(),
          requestId: r.request_id,
          principal: r.principal,
          identityType: r.identity_type,
          principalId: r.principal_id,
          userName: r.user_name === "" ? r.principal : r.user_name,
          accessKeyId: r.access_key_id,
          sourceIp: r.source_ip,
          action: r.action,
          keyId: r.key_id,
          keyVersionId: r.key_version_id,
          outcome: r.outcome,
          errorCode: r.error_code,
          clientUid: r.client_uid,
          requestCount: Number(r.request_count),
          forced: Number(r.forced) === 1,
        }));
        print(opts.output, { events }, () =>
          events
            .map(
              (e) =>
                `${e.eventTime} ${e.action} ${e.outcome}${e.errorCode === "" ? "" : `(${e.errorCode})`}${e.forced ? " FORCED" : ""}${e.requestCount === 1 ? "" : ` ×${e.requestCount}`} principal=${e.principal} key=${e.keyId} source=${e.sourceIp}\n`,
            )
            .join(""),
        );
      },
    );

  kms
    .command("verify-audit")
    .description("check the audit trail's hash chain; exits non-zero and names the first broken record")
    .requiredOption("--data-dir <dir>", "the KMS data dir")
    .option("--database <url>", "postgres:// URL")
    .option("-o, --output <format>", "json for JSON output")
    .action(async (opts: { dataDir: string; database?: string; output?: string }) => {
      const r = await withStore(opts, (kdb) => verifyAuditChain(kdb));
      print(opts.output, r, () =>
        r.ok
          ? `audit chain OK: ${r.records} records\n`
          : `audit chain BROKEN at record ${r.brokenSeq}: ${r.reason}\n`,
      );
      if (!r.ok) process.exitCode = 4;
    });

  kms
    .command("usage")
    .description("calls per key, action and day, with a cost estimate")
    .requiredOption("--data-dir <dir>", "the KMS data dir")
    .option("--database <url>", "postgres:// URL")
    .option("--price-per-10k <n>", "price per 10,000 calls", "0.03")
    .option("--start <time>", "RFC 3339 start")
    .option("--end <time>", "RFC 3339 end")
    .option("-o, --output <format>", "json for JSON output")
    .action(
      async (opts: {
        dataDir: string;
        database?: string;
        pricePer10k: string;
        start?: string;
        end?: string;
        output?: string;
      }) => {
        const price = Number(opts.pricePer10k);
        if (!Number.isFinite(price) || price < 0)
          throw new AtrestError("invalid-argument", "--price-per-10k: must be a non-negative number");
        const start = parseTime(opts.start, "--start");
        const end = parseTime(opts.end, "--end");
        const rows = await withStore(opts, (kdb) =>
          auditUsage(kdb, {
            pricePer10k: price,
            ...(start === undefined ? {} : { startMs: start }),
            ...(end === undefined ? {} : { endMs: end }),
          }),
        );
        const total = rows.reduce((a, r) => ({ calls: a.calls + r.calls, cost: a.cost + r.estimatedCost }), {
          calls: 0,
          cost: 0,
        });
        print(
          opts.output,
          {
            pricePer10k: price,
            usage: rows,
            totalCalls: total.calls,
            totalEstimatedCost: Math.round(total.cost * 1e6) / 1e6,
          },
          () =>
            rows
              .map((r) => `${r.day} ${r.keyId || "-"} ${r.action} ${r.calls} ${r.estimatedCost}\n`)
              .join("") + `total ${total.calls} calls, ${Math.round(total.cost * 1e6) / 1e6}\n`,
        );
      },
    );

  registerKmsAdminCommands(kms);
  registerKmsBackupCommands(kms);
}
