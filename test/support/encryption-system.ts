/**
 * A whole encryption-at-rest system for end-to-end tests, all real parts: etcd (or a SQLite file), atrest
 * kms over HTTPS with one key, the atrest plugin on a unix socket (statusRefreshMs 500 so a rotation shows
 * quickly), the apiserver in process with an EncryptionConfiguration file and automatic reload, a
 * kubeconfig and a real kubectl; plus `atrest scan -o json` through the CLI.
 *
 *   const sys = await startEncryptionSystem({ name: "rotation", config: (e) => secretsConfig([kmsV2(e)]) });
 *   await sys.kubectl.ok(["create", "secret", "generic", "s", "--from-literal=k=v"]);
 *   const { status, report } = await sys.scan();
 *   await sys.rotateKey();           // atrest kms create-key-version; waits for plugin + apiserver
 *   await sys.writeConfig(yaml);     // and waits for the automatic reload to succeed
 *   await sys.close();
 */
import assert from "node:assert/strict";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { startApiServer, type ApiServer, type ApiServerOptions } from "../../src/apiserver/index.js";
import { createLogger, type Logger } from "../../src/common/logger.js";
import { KmsClient } from "../../src/kms/client/kms-client.js";
import { initKmsDataDir } from "../../src/kms/init.js";
import { startKmsServer, type KmsServer } from "../../src/kms/server.js";
import { startPlugin, type RunningPlugin } from "../../src/plugin/plugin.js";
import { classifyValue, type ValueClass } from "../../src/scan/classify.js";
import type { ScanReport } from "../../src/scan/report.js";
import { EtcdStore } from "../../src/storage/etcd-store.js";
import { SqliteStore } from "../../src/storage/sqlite-store.js";
import type { Store } from "../../src/storage/store.js";
import { runAtrest } from "./cli.js";
import { startEtcd, type EtcdCluster } from "./etcd.js";
import { startFakeKmsPlugin, type FakeKmsPlugin } from "./fake-kms-plugin.js";
import { Kubectl, type KubectlResult } from "./kubectl.js";

// ---- EncryptionConfiguration text ----

export const kmsV2 = (endpoint: string, name = "atrest") =>
  `kms: {apiVersion: v2, name: ${name}, endpoint: "${endpoint}", timeout: 5s}`;
export const kmsV1 = (endpoint: string, name = "atrest-v1") =>
  `kms: {apiVersion: v1, name: ${name}, endpoint: "${endpoint}", cachesize: 100, timeout: 5s}`;
export const IDENTITY = "identity: {}";

/** A configuration whose only rule is `secrets` with these provider elements (first writes). */
export function secretsConfig(providers: readonly string[]): string {
  return [
    "apiVersion: apiserver.config.k8s.io/v1",
    "kind: EncryptionConfiguration",
    "resources:",
    "  - resources: [secrets]",
    "    providers:",
    ...providers.map((p) => `      - ${p}`),
    "",
  ].join("\n");
}

// ---- log capture ----

/**
 * A pino destination that appends every line to a file and keeps it in memory. After seal() (its
 * component has closed) lines still arrive are kept apart in late(): nothing should log after close.
 */
export class LogCapture {
  private text = "";
  private sealed = false;
  private readonly lateLines: string[] = [];
  constructor(readonly file: string) {
    writeFileSync(file, "");
  }
  write(line: string): void {
    this.text += line;
    if (this.sealed) this.lateLines.push(line);
    else appendFileSync(this.file, line);
  }
  seal(): void {
    this.sealed = true;
  }
  contents(): string {
    return this.text;
  }
  /** Lines logged after the component's close() resolved. */
  late(): readonly string[] {
    return this.lateLines;
  }
}

// ---- the system ----

export interface EncryptionSystemOptions {
  /** Names the temp dir. */
  readonly name: string;
  /** The initial configuration file, given the plugin's endpoint (`unix:///…/kms.sock`). */
  readonly config: (endpoint: string) => string;
  /** The apiserver's store: a fresh etcd (default) or a SQLite file in the system's dir. */
  readonly store?: "etcd" | "sqlite";
  /** atrest kms + atrest plugin (default), or the base64 fake plugin (keyId "1") and no KMS. */
  readonly plugin?: "atrest" | "fake";
  readonly etcdPrefix?: string;
  /** Capture the apiserver's, plugin's and KMS's logs at this level (files in the dir); default silent. */
  readonly logLevel?: string;
  readonly statusRefreshMs?: number;
  readonly reloadIntervalMs?: number;
  /** The in-process apiserver's StorageVersionMigration controller (default on; `false` when another apiserver runs it). */
  readonly storageVersionMigrator?: ApiServerOptions["storageVersionMigrator"];
  /** The KMS's database: a postgres:// URL (default: SQLite in its data dir). */
  readonly kmsDatabase?: string;
  /** Wraps the store the apiserver writes through (a test holding writes mid-way); the scans read the raw one. */
  readonly wrapStore?: (store: Store) => Store;
}

export interface ScanRun {
  readonly status: number | null;
  readonly report: ScanReport;
  readonly stdout: string;
  readonly stderr: string;
}

export interface EncryptionSystem {
  readonly dir: string;
  readonly configFile: string;
  readonly kubeconfig: string;
  readonly kubectl: Kubectl;
  readonly etcdPrefix: string;
  readonly etcd: EtcdCluster | undefined;
  /** The SQLite file when store is "sqlite". */
  readonly sqlitePath: string | undefined;
  readonly store: Store;
  readonly apiserver: ApiServer;
  readonly pluginEndpoint: string;
  /** The atrest plugin (plugin "atrest"). */
  readonly plugin: RunningPlugin | undefined;
  readonly fakePlugin: FakeKmsPlugin | undefined;
  readonly kms: KmsServer | undefined;
  readonly kmsDataDir: string | undefined;
  /** The KMS key the plugin uses (plugin "atrest"). */
  readonly kmsKeyId: string;
  /** `atrest kms --profile` file (plugin "atrest"). */
  readonly profileFile: string;
  /** Captured log outputs (empty without logLevel). */
  readonly logs: readonly LogCapture[];
  /** The KMS key's primary version, asked of the KMS. */
  primaryKeyVersion(): Promise<string>;
  /** What the plugin's Status reports now. */
  pluginKeyId(): string;
  /**
   * `atrest kms create-key-version` through the CLI, then waits for the plugin to report the new key_id
   * and for the apiserver to make a new seed with it. Returns the new key_id.
   */
  rotateKey(): Promise<string>;
  /** Rewrites the configuration file (atomically) and waits for a successful automatic reload. */
  writeConfig(yaml: string): Promise<void>;
  /** `atrest scan` on the apiserver's store and prefix, `-o json`; `config: false` scans without a configuration. */
  scan(options?: { config?: boolean; extraArgs?: readonly string[] }): Promise<ScanRun>;
  /** The stored Secrets (storage key → how the bytes say they are stored), read in process. */
  storedSecrets(): Promise<Map<string, ValueClass>>;
  /** GET on the apiserver with the admin token. */
  get(path: string): Promise<{ status: number; body: string }>;
  /** `kubectl A… | kubectl B…`: A's stdout as B's stdin. */
  pipe(first: readonly string[], second: readonly string[]): Promise<KubectlResult>;
  /** Everything the scans printed (stdout + stderr), for leak checks. */
  scanOutputs(): string;
  /** Stops every process and closes every handle, keeping the files (data dirs, logs). Idempotent. */
  stop(): Promise<void>;
  /** stop(), then removes the temp dir and etcd's data dir. Idempotent. */
  close(): Promise<void>;
}

export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function httpsGet(server: ApiServer, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(
      new URL(path, server.url),
      {
        headers: { Authorization: `Bearer ${server.adminToken ?? ""}` },
        ca: server.caCertPem,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    )
      .on("error", reject)
      .on("timeout", function (this: { destroy(err: Error): void }) {
        this.destroy(new Error(`GET ${path} timed out`));
      })
      .end();
  });
}

/** The value of a counter line with these labels (0 when absent). */
export function metricValue(body: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of body.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf("}");
    const labelText = line.slice(name.length + 1, close);
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`)))
      total += Number(line.slice(close + 1).trim());
  }
  return total;
}

export async function startEncryptionSystem(options: EncryptionSystemOptions): Promise<EncryptionSystem> {
  const dir = mkdtempSync(join(tmpdir(), `atrest-${options.name}-`));
  const etcdPrefix = options.etcdPrefix ?? "/registry";
  const pluginKind = options.plugin ?? "atrest";
  const logs: LogCapture[] = [];
  /** A captured logger (none without logLevel), and the closer that closes its component then seals it. */
  const logger = (
    name: string,
  ): { logger?: Logger; closed: (close: () => Promise<void>) => () => Promise<void> } => {
    if (options.logLevel === undefined) return { closed: (close) => close };
    const capture = new LogCapture(join(dir, `${name}.log`));
    logs.push(capture);
    return {
      logger: createLogger({ name, level: options.logLevel, destination: capture }),
      closed: (close) => async () => {
        await close();
        capture.seal();
      },
    };
  };
  const scanOutput: string[] = [];

  // Everything opened so far, closed in reverse order on stop() (or when start-up fails).
  const closers: Array<() => Promise<void>> = [];
  let etcd: EtcdCluster | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      const errors: unknown[] = [];
      for (const c of closers.reverse()) {
        try {
          await c();
        } catch (err) {
          errors.push(err);
        }
      }
      if (errors.length > 0) throw errors[0];
    })();
    return stopped;
  };
  const close = async (): Promise<void> => {
    try {
      await stop();
    } finally {
      await etcd?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  };

  try {
    // The store.
    let store: Store;
    let sqlitePath: string | undefined;
    if ((options.store ?? "etcd") === "etcd") {
      const cluster = await startEtcd();
      etcd = cluster;
      // SIGTERM: etcd exits cleanly and keeps its data dir (close() removes it).
      closers.push(() => cluster.stopMember(0, "SIGTERM"));
      store = new EtcdStore({ endpoints: cluster.endpoints });
    } else {
      sqlitePath = join(dir, "apiserver.db");
      store = new SqliteStore({ path: sqlitePath });
    }
    closers.push(() => store.close());

    // The KMS and the plugin.
    const socket = join(dir, "plugin", "kms.sock");
    const pluginEndpoint = `unix://${socket}`;
    let kms: KmsServer | undefined;
    let kmsDataDir: string | undefined;
    let plugin: RunningPlugin | undefined;
    let fakePlugin: FakeKmsPlugin | undefined;
    let kmsKeyId = "";
    const profileFile = join(dir, "kms-profile.json");
    let kmsAdmin: KmsClient | undefined;
    if (pluginKind === "atrest") {
      kmsDataDir = join(dir, "kms");
      const database = options.kmsDatabase === undefined ? {} : { database: options.kmsDatabase };
      const init = await initKmsDataDir({ dataDir: kmsDataDir, accountId: "1234567890123456", ...database });
      const kmsLogger = logger("kms");
      const server = await startKmsServer({
        dataDir: kmsDataDir,
        ...database,
        cacheTtlMs: 0,
        schedulerIntervalMs: 0,
        ...(kmsLogger.logger ? { logger: kmsLogger.logger } : {}),
      });
      kms = server;
      closers.push(kmsLogger.closed(() => server.close()));
      const creds = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as {
        accessKeyId: string;
        accessKeySecret: string;
      };
      writeFileSync(
        profileFile,
        JSON.stringify({ endpoint: server.url, regionId: "cn-hangzhou", ...creds, caFile: init.caCertFile }),
        { mode: 0o600 },
      );
      const admin = new KmsClient({
        endpoint: server.url,
        regionId: "cn-hangzhou",
        ...creds,
        caFile: init.caCertFile,
      });
      kmsAdmin = admin;
      closers.push(() => Promise.resolve(admin.close()));
      const created = await admin.call("CreateKey", {
        KeySpec: "Aliyun_AES_256",
        Description: `atrest e2e ${options.name}`,
      });
      kmsKeyId = String((created["KeyMetadata"] as Record<string, unknown>)["KeyId"]);
      const pluginLogger = logger("plugin");
      const running = await startPlugin({
        listen: pluginEndpoint,
        backend: {
          kind: "alibaba",
          endpoint: server.url,
          regionId: "cn-hangzhou",
          keyId: kmsKeyId,
          credentials: creds,
          caPem: readFileSync(init.caCertFile, "utf8"),
        },
        statusRefreshMs: options.statusRefreshMs ?? 500,
        ...(pluginLogger.logger ? { logger: pluginLogger.logger } : {}),
      });
      plugin = running;
      closers.push(pluginLogger.closed(() => running.close({ graceMs: 1_000 })));
      await eventually("the plugin's first healthy check", () =>
        Promise.resolve(running.status().healthy && running.status().keyId !== ""),
      );
    } else {
      mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
      const fake = await startFakeKmsPlugin({ socketPath: socket });
      fakePlugin = fake;
      closers.push(() => fake.close());
    }

    // The configuration and the apiserver.
    const configFile = join(dir, "encryption-config.yaml");
    writeFileSync(configFile, options.config(pluginEndpoint));
    const kubeconfig = join(dir, "kubeconfig");
    const apiLogger = logger("apiserver");
    const apiserver = await startApiServer({
      store: options.wrapStore === undefined ? store : options.wrapStore(store),
      storeCheckName: etcd === undefined ? "datastore" : "etcd",
      etcdPrefix,
      dataDir: join(dir, "apiserver"),
      securePort: 0,
      kubeconfigOut: kubeconfig,
      encryptionProviderConfig: configFile,
      encryptionProviderConfigAutomaticReload: true,
      encryptionReloadIntervalMs: options.reloadIntervalMs ?? 200,
      ...(options.storageVersionMigrator !== undefined
        ? { storageVersionMigrator: options.storageVersionMigrator }
        : {}),
      ...(apiLogger.logger ? { logger: apiLogger.logger } : {}),
    });
    closers.push(apiLogger.closed(() => apiserver.close()));
    const kubectl = new Kubectl(kubeconfig, { cacheDir: mkdtempSync(join(dir, "kubectl-cache-")) });

    const get = (path: string) => httpsGet(apiserver, path);
    const metrics = async () => {
      const r = await get("/metrics");
      assert.equal(r.status, 200, "GET /metrics");
      return r.body;
    };
    const reloads = async () =>
      metricValue(await metrics(), "apiserver_encryption_config_controller_automatic_reloads_total", {
        status: "success",
      });
    const seedEncrypts = async () =>
      metricValue(await metrics(), "apiserver_envelope_encryption_kms_operations_total", {
        method_name: "encrypt",
        status: "OK",
      });
    const primaryKeyVersion = async (): Promise<string> => {
      assert.ok(kmsAdmin !== undefined, "no KMS in this system");
      const d = await kmsAdmin.call("DescribeKey", { KeyId: kmsKeyId });
      return String((d["KeyMetadata"] as Record<string, unknown>)["PrimaryKeyVersion"]);
    };
    const pluginKeyId = (): string => {
      assert.ok(plugin !== undefined, "no atrest plugin in this system");
      return plugin.status().keyId;
    };

    return {
      dir,
      configFile,
      kubeconfig,
      kubectl,
      etcdPrefix,
      etcd,
      sqlitePath,
      store,
      apiserver,
      pluginEndpoint,
      plugin,
      fakePlugin,
      kms,
      kmsDataDir,
      kmsKeyId,
      profileFile,
      logs,
      primaryKeyVersion,
      pluginKeyId,
      async rotateKey() {
        const before = pluginKeyId();
        const encryptsBefore = await seedEncrypts();
        const r = await runAtrest(
          ["kms", "create-key-version", "--key-id", kmsKeyId, "--profile", profileFile, "-o", "json"],
          { timeoutMs: 60_000 },
        );
        assert.equal(r.status, 0, `atrest kms create-key-version: ${r.stderr}`);
        const version = String(
          ((JSON.parse(r.stdout) as Record<string, unknown>)["KeyVersion"] as Record<string, unknown>)[
            "KeyVersionId"
          ],
        );
        assert.notEqual(version, "undefined", r.stdout);
        const expected = `${kmsKeyId}:${version}`;
        assert.notEqual(expected, before, "the new version gives a new key_id");
        await eventually(
          `the plugin to report key_id ${expected}`,
          () => Promise.resolve(pluginKeyId() === expected),
          15_000,
        );
        // The apiserver sees the new key_id on its next Status: the 60 s poll, or a health check (whose
        // result is reused for 20 s). Asking /healthz gets there sooner; a new seed is one more Encrypt.
        await eventually(
          "the apiserver to make a new seed under the new key_id",
          async () => {
            await get("/healthz/kms-providers");
            return (await seedEncrypts()) > encryptsBefore;
          },
          45_000,
          500,
        );
        return expected;
      },
      async writeConfig(yaml) {
        const before = await reloads();
        const tmp = `${configFile}.tmp`;
        writeFileSync(tmp, yaml);
        renameSync(tmp, configFile);
        await eventually("a successful automatic reload", async () => (await reloads()) > before, 20_000);
      },
      async scan(scanOptions = {}) {
        const storeFlags =
          etcd !== undefined
            ? ["--etcd-servers", etcd.endpoints.join(",")]
            : ["--datastore-endpoint", `sqlite://${sqlitePath ?? ""}`];
        const r = await runAtrest(
          [
            "scan",
            ...storeFlags,
            "--etcd-prefix",
            etcdPrefix,
            ...(scanOptions.config === false ? [] : ["--encryption-provider-config", configFile]),
            ...(scanOptions.extraArgs ?? []),
            "-o",
            "json",
          ],
          { timeoutMs: 60_000 },
        );
        scanOutput.push(r.stdout, r.stderr);
        let report: ScanReport;
        try {
          report = JSON.parse(r.stdout) as ScanReport;
        } catch (err) {
          assert.fail(
            `atrest scan printed no JSON (exit ${String(r.status)}): ${(err as Error).message}\n${r.stdout}\n${r.stderr}`,
          );
        }
        return { status: r.status, report, stdout: r.stdout, stderr: r.stderr };
      },
      async storedSecrets() {
        const out = new Map<string, ValueClass>();
        const page = await store.list(`${etcdPrefix}/secrets/`);
        for (const kv of page.items) out.set(kv.key, classifyValue(kv.value));
        return out;
      },
      get,
      async pipe(first, second) {
        const a = await kubectl.run(first);
        if (a.status !== 0)
          throw new Error(`kubectl ${first.join(" ")} exited ${String(a.status)}: ${a.stderr.trim()}`);
        return kubectl.run(second, { input: a.stdout });
      },
      scanOutputs: () => scanOutput.join("\n"),
      stop,
      close,
    };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

// ---- Secrets as kubectl shows them ----

export interface SecretView {
  readonly namespace: string;
  readonly name: string;
  readonly data: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly resourceVersion: string;
}

/** `kubectl get secrets -A -o json`, as namespace/name → data (base64 values), annotations. */
export async function listSecrets(kubectl: Kubectl): Promise<Map<string, SecretView>> {
  const list = JSON.parse(await kubectl.ok(["get", "secrets", "--all-namespaces", "-o", "json"])) as {
    items: Array<{
      metadata: {
        namespace: string;
        name: string;
        resourceVersion: string;
        annotations?: Record<string, string>;
      };
      data?: Record<string, string>;
    }>;
  };
  const out = new Map<string, SecretView>();
  for (const s of list.items) {
    out.set(`${s.metadata.namespace}/${s.metadata.name}`, {
      namespace: s.metadata.namespace,
      name: s.metadata.name,
      data: s.data ?? {},
      annotations: s.metadata.annotations ?? {},
      resourceVersion: s.metadata.resourceVersion,
    });
  }
  return out;
}

/** base64 of each value, as a Secret's `data` holds it. */
export function b64Data(plain: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(plain).map(([k, v]) => [k, Buffer.from(v).toString("base64")]));
}
