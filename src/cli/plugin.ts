import type { Command } from "commander";
import { createLogger } from "../common/logger.js";
import {
  parseDurationMs,
  readConfigFile,
  resolvePluginOptions,
  validateSettings,
  type PluginSettings,
} from "../plugin/options.js";
import { startPlugin } from "../plugin/plugin.js";
import { serveUntilSignal } from "./until-signal.js";

/** Commander's camelCase option names → the settings keys (spelled as the flags). */
const FLAG_KEYS: Record<string, keyof PluginSettings> = {
  listen: "listen",
  backend: "backend",
  kmsEndpoint: "kms-endpoint",
  region: "region",
  keyId: "key-id",
  credentialsFile: "credentials-file",
  caFile: "ca-file",
  statusRefresh: "status-refresh",
  healthListen: "health-listen",
  keyFile: "key-file",
  oldKeyFile: "old-key-file",
  pkcs11Module: "pkcs11-module",
  pkcs11TokenLabel: "pkcs11-token-label",
  pkcs11PinFile: "pkcs11-pin-file",
  pkcs11KeyLabel: "pkcs11-key-label",
  pkcs11CreateKey: "pkcs11-create-key",
  roleArn: "role-arn",
  roleSessionName: "role-session-name",
  stsEndpoint: "sts-endpoint",
  roleSessionDuration: "role-session-duration",
};

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** `atrest plugin`: the Kubernetes KMS plugin (KMS v2 + v1beta1 on a unix socket). */
export function registerPlugin(program: Command): void {
  program
    .command("plugin")
    .description("serve the Kubernetes KMS plugin API (v2 and v1beta1) on a unix socket, backed by a KMS")
    .option("--config <file>", "YAML or JSON file with the same keys as the flags (flags win)")
    .option("--listen <endpoint>", "unix:///path/kms.sock or unix:///@abstract-name")
    .option("--backend <kind>", "alibaba (Alibaba Cloud KMS API, e.g. atrest kms) or local (default alibaba)")
    .option(
      "--kms-endpoint <url>",
      "KMS endpoint, e.g. https://127.0.0.1:9443 or https://kms.cn-hangzhou.aliyuncs.com",
    )
    .option("--region <id>", "region id (default cn-hangzhou)")
    .option("--key-id <id>", "KMS key id or alias (alias/…)")
    .option(
      "--credentials-file <file>",
      "JSON {accessKeyId, accessKeySecret[, securityToken]} (else ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET/SECURITY_TOKEN)",
    )
    .option("--ca-file <file>", "PEM CA that signed the KMS (and STS) endpoint's certificate")
    .option(
      "--role-arn <arn>",
      "assume this role (acs:ram::<account>:role/<name>) through STS and call the KMS as its session; the credentials only assume it",
    )
    .option(
      "--role-session-name <name>",
      "with --role-arn: the session's name in the audit trail (name the cluster)",
    )
    .option(
      "--sts-endpoint <url>",
      "with --role-arn: STS, e.g. atrest's identity endpoint (default https://sts.<region>.aliyuncs.com)",
    )
    .option(
      "--role-session-duration <duration>",
      "with --role-arn: each session's life, 15m-12h (default 1h); renewed before it ends",
    )
    .option("--status-refresh <duration>", "how often the Encrypt+Decrypt health check runs (default 60s)")
    .option("--health-listen <host:port>", "serve /healthz, /livez and /metrics over HTTP")
    .option("--key-file <file>", "local backend: the KEK, 32 bytes raw or base64, mode 0600")
    .option("--old-key-file <file>", "local backend: an older KEK kept for decryption (repeatable)", collect)
    .option("--pkcs11-module <path>", "local backend: PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so")
    .option("--pkcs11-token-label <label>", "local backend: token label")
    .option("--pkcs11-pin-file <file>", "local backend: file holding the user PIN")
    .option("--pkcs11-key-label <label>", "local backend: label of the AES-256 key in the token")
    .option("--pkcs11-create-key", "local backend: generate the token key when it does not exist")
    .option("--shutdown-grace <duration>", "how long SIGTERM waits for in-flight calls (default 5s)")
    .action(async (flags: Record<string, unknown>) => {
      const fromFile = typeof flags["config"] === "string" ? readConfigFile(flags["config"]) : {};
      const fromFlags: Record<string, unknown> = {};
      for (const [flag, key] of Object.entries(FLAG_KEYS))
        if (flags[flag] !== undefined) fromFlags[key] = flags[flag];
      const settings = validateSettings({ ...fromFile, ...validateSettings(fromFlags, "flags") }, "settings");
      const options = resolvePluginOptions(settings, process.env);
      const graceMs =
        typeof flags["shutdownGrace"] === "string"
          ? parseDurationMs(flags["shutdownGrace"], "--shutdown-grace")
          : undefined;
      const logger = createLogger({ name: "atrest-plugin" });
      const plugin = await startPlugin({ ...options, logger });
      if (plugin.health) process.stdout.write(`atrest plugin: health on ${plugin.health.url}\n`);
      process.stdout.write(`atrest plugin: serving ${plugin.address.display}\n`);
      await serveUntilSignal(logger, async (signal) => {
        logger.info({ signal }, "kms plugin stopping");
        await plugin.close(graceMs !== undefined ? { graceMs } : {});
      });
      logger.flush();
    });
}
