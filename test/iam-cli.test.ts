import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initKmsDataDir } from "../src/kms/init.js";
import { runAtrest, spawnAtrest } from "./support/cli.js";
import { TEST_ACCOUNT_ID, startIdentityStack, type IdentityStack } from "./support/identity-stack.js";

/**
 * `atrest iam` and `atrest events` as a person runs them, with a profile naming the identity
 * endpoint; and `atrest kms serve --identity-listen` serving it beside the KMS.
 */
const ENV = { ATREST_FROM_SOURCE: "1", ATREST_LOG_LEVEL: "warn" };
let stack: IdentityStack;
let profile: string;

before(async () => {
  stack = await startIdentityStack("iam-cli");
  profile = join(stack.dir, "profile.json");
  writeFileSync(
    profile,
    JSON.stringify({
      endpoint: stack.kms.url,
      identityEndpoint: stack.identity.url,
      regionId: "cn-hangzhou",
      ...stack.admin,
      caFile: stack.caFile,
    }),
    { mode: 0o600 },
  );
});
after(() => stack?.close());

const iam = (args: string[], input?: string) =>
  runAtrest(["iam", ...args, "--profile", profile, "-o", "json"], {
    env: ENV,
    ...(input === undefined ? {} : { input }),
  });
const json = (r: { status: number | null; stdout: string; stderr: string }) => {
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
};

test("quick-authorize, users, passwords from stdin, assume-role and events from the command line", async () => {
  const qa = json(await iam(["quick-authorize"]));
  assert.equal(qa["Arn"], `acs:ram::${TEST_ACCOUNT_ID}:role/AliyunCSManagedSecurityRole`);
  assert.equal(json(await iam(["quick-authorize"]))["Created"], false, "idempotent");
  json(await iam(["create-user", "--user-name", "erin"]));
  const pw = await iam(["set-password", "--user-name", "erin", "--password-file", "-"], "Erin-password-1\n");
  json(pw);
  assert.ok(await stack.kms.identity.verifyConsolePassword("erin", "Erin-password-1"));
  const weak = await iam(
    ["set-password", "--user-name", "erin", "--password-file", "-", "--update"],
    "weak\n",
  );
  assert.notEqual(weak.status, 0);
  assert.match(weak.stderr, /InvalidParameter\.Password/);
  assert.equal(weak.stderr.includes("weak"), false, "the password is not echoed");
  const bad = await iam([
    "create-role",
    "--role-name",
    "x-role",
    "--trust-policy",
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Principal":{"RAM":["*"]}}]}',
  ]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /Statement\[0\]\.Action/);
  json(
    await iam([
      "create-role",
      "--role-name",
      "cli-role",
      "--trust-policy",
      JSON.stringify({
        Version: "1",
        Statement: [
          {
            Effect: "Allow",
            Action: "sts:AssumeRole",
            Principal: { RAM: [`acs:ram::${TEST_ACCOUNT_ID}:root`] },
          },
        ],
      }),
    ]),
  );
  json(await iam(["attach-policy", "--policy-name", "AliyunKMSReadOnlyAccess", "--role-name", "cli-role"]));
  const attached = json(await iam(["list-attached-policies", "--role-name", "cli-role"]));
  assert.deepEqual(
    (attached["Policies"] as { Policy: Array<{ PolicyName: string }> }).Policy.map((p) => p.PolicyName),
    ["AliyunKMSReadOnlyAccess"],
  );
  const assumed = json(
    await iam([
      "assume-role",
      "--role-arn",
      `acs:ram::${TEST_ACCOUNT_ID}:role/cli-role`,
      "--role-session-name",
      "cli-session",
    ]),
  );
  const creds = assumed["Credentials"] as Record<string, string>;
  assert.match(creds["AccessKeyId"]!, /^STS\./);
  // The AssumeRole call, found with `atrest events`.
  const events = json(
    await runAtrest(
      [
        "events",
        "--profile",
        profile,
        "--service-name",
        "Sts",
        "--event-name",
        "AssumeRole",
        "--all",
        "-o",
        "json",
      ],
      { env: ENV },
    ),
  );
  const found = events["Events"] as Array<{ userIdentity: { userName: string }; resourceName: string }>;
  assert.ok(
    found.some(
      (e) =>
        e.resourceName === `acs:ram::${TEST_ACCOUNT_ID}:role/cli-role` && e.userIdentity.userName === "admin",
    ),
  );
  const text = await runAtrest(
    ["events", "--profile", profile, "--user", "ADMIN", "--event-name", "CreateUser", "--max-results", "5"],
    { env: ENV },
  );
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /Ram\s+CreateUser\s+admin \(ram-user\)/);
  const badKey = await runAtrest(["events", "--profile", profile, "--event-rw", "Both"], { env: ENV });
  assert.notEqual(badKey.status, 0);
  assert.match(badKey.stderr, /InvalidParameter\.LookupAttribute/);
});

test("atrest kms serve --identity-listen serves STS, RAM and LookupEvents beside the KMS", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-iam-serve-"));
  await initKmsDataDir({ dataDir: join(dir, "kms"), accountId: TEST_ACCOUNT_ID });
  const badListen = await runAtrest(
    [
      "kms",
      "serve",
      "--data-dir",
      join(dir, "kms"),
      "--listen",
      "127.0.0.1:0",
      "--identity-listen",
      "nowhere",
    ],
    { env: ENV },
  );
  assert.notEqual(badListen.status, 0);
  assert.match(badListen.stderr, /--identity-listen: must be HOST:PORT/);
  const served = spawnAtrest(
    [
      "kms",
      "serve",
      "--data-dir",
      join(dir, "kms"),
      "--listen",
      "127.0.0.1:0",
      "--identity-listen",
      "127.0.0.1:0",
      "--scheduler-interval",
      "0",
    ],
    { env: ENV },
  );
  try {
    const line = await new Promise<Record<string, string>>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error("serve did not start")), 60_000);
      served.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
        const l = out.split("\n").find((x) => x.includes('"kms listening"'));
        if (l !== undefined) {
          clearTimeout(timer);
          resolve(JSON.parse(l) as Record<string, string>);
        }
      });
    });
    assert.match(line["identityUrl"] ?? "", /^https:\/\/127\.0\.0\.1:\d+$/);
    const admin = JSON.parse(readFileSync(join(dir, "kms", "credentials.json"), "utf8")) as Record<
      string,
      string
    >;
    const p = join(dir, "p.json");
    writeFileSync(
      p,
      JSON.stringify({
        endpoint: line["url"],
        identityEndpoint: line["identityUrl"],
        ...admin,
        caFile: join(dir, "kms", "tls", "ca.crt"),
      }),
      { mode: 0o600 },
    );
    const who = await runAtrest(["iam", "get-caller-identity", "--profile", p, "-o", "json"], { env: ENV });
    assert.equal(who.status, 0, who.stderr);
    assert.equal(
      (JSON.parse(who.stdout) as Record<string, string>)["Arn"],
      `acs:ram::${TEST_ACCOUNT_ID}:user/admin`,
    );
  } finally {
    served.kill("SIGTERM");
    await new Promise((r) => served.once("close", r));
    rmSync(dir, { recursive: true, force: true });
  }
});
