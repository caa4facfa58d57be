/**
 * `atrest plugin` settings: flags and a `--config FILE` (YAML or JSON) with the same keys, validated
 * once, up front, into PluginOptions. Every problem is reported with its key; unknown keys are errors.
 */
import { readSecretFile } from "../common/secret-file.js";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { AtrestError } from "../common/errors.js";
import { parseGoDurationNs } from "../common/go-duration.js";
import type { AlibabaCredentials } from "./alibaba-backend.js";
import type { AssumeRoleSettings } from "./assumed-role-credentials.js";
import type { BackendConfig, LocalKekConfig } from "./backend-config.js";
import { readPinFile } from "./pkcs11-kek.js";
import { DEFAULT_STATUS_REFRESH_MS, type PluginOptions } from "./plugin.js";

const stringList = z
  .union([z.string().min(1), z.array(z.string().min(1))])
  .transform((v) => (Array.isArray(v) ? v : [v]));

/** The keys, spelled as the flags are. */
export const pluginSettingsSchema = z
  .object({
    listen: z.string().min(1),
    backend: z.enum(["alibaba", "local"]),
    "kms-endpoint": z.string().min(1),
    region: z.string().min(1),
    "key-id": z.string().min(1),
    "credentials-file": z.string().min(1),
    "ca-file": z.string().min(1),
    "status-refresh": z.string().min(1),
    "health-listen": z.string().min(1),
    "key-file": z.string().min(1),
    "old-key-file": stringList,
    "pkcs11-module": z.string().min(1),
    "pkcs11-token-label": z.string().min(1),
    "pkcs11-pin-file": z.string().min(1),
    "pkcs11-key-label": z.string().min(1),
    "pkcs11-create-key": z.boolean(),
    "role-arn": z.string().min(1),
    "role-session-name": z.string().min(1),
    "sts-endpoint": z.string().min(1),
    "role-session-duration": z.string().min(1),
  })
  .partial()
  .strict();

export type PluginSettings = z.output<typeof pluginSettingsSchema>;

export function readConfigFile(path: string): PluginSettings {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new AtrestError("invalid-argument", `cannot read --config ${path}`, { cause });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text); // YAML is a superset of JSON
  } catch (cause) {
    throw new AtrestError("invalid-argument", `--config ${path} is neither YAML nor JSON`, { cause });
  }
  return validateSettings(raw ?? {}, path);
}

export function validateSettings(raw: unknown, source: string): PluginSettings {
  const parsed = pluginSettingsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new AtrestError("invalid-argument", `${source}: ${problems.join("; ")}`, { details: { problems } });
  }
  return parsed.data;
}

export function parseDurationMs(value: string, key: string): number {
  const ns = parseGoDurationNs(value);
  if (ns === undefined || ns <= 0n)
    throw new AtrestError(
      "invalid-argument",
      `${key}: ${JSON.stringify(value)} is not a positive duration like 60s, 1m or 500ms`,
    );
  return Number(ns / 1_000_000n);
}

const credentialsFileSchema = z
  .object({
    accessKeyId: z.string().min(1),
    accessKeySecret: z.string().min(1),
    securityToken: z.string().min(1).optional(),
  })
  .loose();

export function loadCredentials(
  file: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): AlibabaCredentials {
  if (file !== undefined) {
    // An access key file others can read is refused, as the KMS root key is.
    const bytes = readSecretFile(file, "--credentials-file");
    let raw: unknown;
    try {
      raw = JSON.parse(bytes.toString("utf8"));
    } catch (cause) {
      throw new AtrestError("invalid-argument", `--credentials-file ${file} is not readable JSON`, { cause });
    }
    const parsed = credentialsFileSchema.safeParse(raw);
    // Never echo the file's content: it holds the secret.
    if (!parsed.success)
      throw new AtrestError(
        "invalid-argument",
        `--credentials-file ${file} must hold {"accessKeyId": …, "accessKeySecret": …}`,
      );
    const token = parsed.data.securityToken ?? env["ALIBABA_CLOUD_SECURITY_TOKEN"];
    return {
      accessKeyId: parsed.data.accessKeyId,
      accessKeySecret: parsed.data.accessKeySecret,
      ...(token ? { securityToken: token } : {}),
    };
  }
  const accessKeyId = env["ALIBABA_CLOUD_ACCESS_KEY_ID"];
  const accessKeySecret = env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"];
  if (!accessKeyId || !accessKeySecret) {
    throw new AtrestError(
      "invalid-argument",
      "the alibaba backend needs credentials: --credentials-file FILE, or ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (+ ALIBABA_CLOUD_SECURITY_TOKEN for STS)",
    );
  }
  const token = env["ALIBABA_CLOUD_SECURITY_TOKEN"];
  return { accessKeyId, accessKeySecret, ...(token ? { securityToken: token } : {}) };
}

const ROLE_ARN = /^acs:ram::[0-9]{1,32}:role\/[a-zA-Z0-9._@-]{1,64}$/;
const SESSION_NAME = /^[A-Za-z0-9.@_-]{2,64}$/;

/** `--role-arn` and its companions → the backend's assumeRole settings (all checked up front). */
function assumeRoleSettings(settings: PluginSettings, regionId: string): { assumeRole?: AssumeRoleSettings } {
  const roleArn = settings["role-arn"];
  if (roleArn === undefined) {
    for (const key of ["role-session-name", "sts-endpoint", "role-session-duration"] as const)
      if (settings[key] !== undefined)
        throw new AtrestError("invalid-argument", `--${key} is for --role-arn`);
    return {};
  }
  if (!ROLE_ARN.test(roleArn))
    throw new AtrestError("invalid-argument", "--role-arn: must be acs:ram::<account id>:role/<role name>");
  const session = settings["role-session-name"];
  if (session === undefined || !SESSION_NAME.test(session))
    throw new AtrestError(
      "invalid-argument",
      "--role-session-name is required with --role-arn: 2-64 of letters, digits, '.', '@', '-', '_' (name the cluster)",
    );
  let durationSeconds = 3600;
  if (settings["role-session-duration"] !== undefined) {
    durationSeconds = Math.round(
      parseDurationMs(settings["role-session-duration"], "--role-session-duration") / 1000,
    );
    // Shorter sessions are accepted only by an STS started for tests (its documented test-only option).
    if (durationSeconds < 1 || durationSeconds > 43_200)
      throw new AtrestError(
        "invalid-argument",
        "--role-session-duration: 15m to 12h (the role's MaxSessionDuration bounds it)",
      );
  }
  return {
    assumeRole: {
      roleArn,
      roleSessionName: session,
      stsEndpoint: settings["sts-endpoint"] ?? `https://sts.${regionId}.aliyuncs.com`,
      durationSeconds,
    },
  };
}

/** Settings (flags over config file) → PluginOptions; reads the files they name. */
export function resolvePluginOptions(
  settings: PluginSettings,
  env: Readonly<Record<string, string | undefined>>,
): Omit<PluginOptions, "logger" | "clock" | "random"> {
  const missing = (key: string, why: string): AtrestError =>
    new AtrestError("invalid-argument", `--${key} is required ${why}`);
  if (settings.listen === undefined) throw missing("listen", "(e.g. unix:///var/run/atrest/kms.sock)");
  const backendKind = settings.backend ?? "alibaba";
  let backend: BackendConfig;
  if (backendKind === "alibaba") {
    for (const key of [
      "key-file",
      "old-key-file",
      "pkcs11-module",
      "pkcs11-token-label",
      "pkcs11-pin-file",
      "pkcs11-key-label",
    ] as const) {
      if (settings[key] !== undefined)
        throw new AtrestError("invalid-argument", `--${key} is for --backend local`);
    }
    if (settings["key-id"] === undefined) throw missing("key-id", "for --backend alibaba");
    const regionId = settings.region ?? "cn-hangzhou";
    const endpoint =
      settings["kms-endpoint"] ??
      (settings.region !== undefined ? `https://kms.${settings.region}.aliyuncs.com` : undefined);
    if (endpoint === undefined)
      throw missing("kms-endpoint", "(or --region for Alibaba Cloud's public endpoint)");
    let caPem: string | undefined;
    if (settings["ca-file"] !== undefined) {
      try {
        caPem = readFileSync(settings["ca-file"], "utf8");
      } catch (cause) {
        throw new AtrestError("invalid-argument", `cannot read --ca-file ${settings["ca-file"]}`, { cause });
      }
      if (!caPem.includes("-----BEGIN CERTIFICATE-----"))
        throw new AtrestError(
          "invalid-argument",
          `--ca-file ${settings["ca-file"]} holds no PEM certificate`,
        );
    }
    backend = {
      kind: "alibaba",
      endpoint,
      regionId,
      keyId: settings["key-id"],
      credentials: loadCredentials(settings["credentials-file"], env),
      ...(caPem !== undefined ? { caPem } : {}),
      ...assumeRoleSettings(settings, regionId),
    };
  } else {
    for (const key of [
      "kms-endpoint",
      "key-id",
      "credentials-file",
      "ca-file",
      "role-arn",
      "role-session-name",
      "sts-endpoint",
      "role-session-duration",
    ] as const) {
      if (settings[key] !== undefined)
        throw new AtrestError("invalid-argument", `--${key} is for --backend alibaba`);
    }
    const p11Keys = ["pkcs11-module", "pkcs11-token-label", "pkcs11-pin-file", "pkcs11-key-label"] as const;
    const p11Given = p11Keys.filter((k) => settings[k] !== undefined);
    if (p11Given.length > 0 && settings["key-file"] !== undefined)
      throw new AtrestError("invalid-argument", "give either --key-file or --pkcs11-*, not both");
    let primary: LocalKekConfig;
    if (p11Given.length > 0) {
      const absent = p11Keys.filter((k) => settings[k] === undefined);
      if (absent.length > 0)
        throw new AtrestError(
          "invalid-argument",
          `a PKCS#11 KEK also needs ${absent.map((k) => `--${k}`).join(", ")}`,
        );
      primary = {
        pkcs11: true,
        modulePath: settings["pkcs11-module"] as string,
        tokenLabel: settings["pkcs11-token-label"] as string,
        pin: readPinFile(settings["pkcs11-pin-file"] as string),
        keyLabel: settings["pkcs11-key-label"] as string,
        createIfMissing: settings["pkcs11-create-key"] === true,
      };
    } else if (settings["key-file"] !== undefined) {
      primary = { keyFile: settings["key-file"] };
    } else {
      throw new AtrestError(
        "invalid-argument",
        "--backend local needs --key-file FILE or --pkcs11-module/--pkcs11-token-label/--pkcs11-pin-file/--pkcs11-key-label",
      );
    }
    backend = {
      kind: "local",
      keks: [primary, ...(settings["old-key-file"] ?? []).map((keyFile) => ({ keyFile }))],
    };
  }
  return {
    listen: settings.listen,
    backend,
    statusRefreshMs:
      settings["status-refresh"] === undefined
        ? DEFAULT_STATUS_REFRESH_MS
        : parseDurationMs(settings["status-refresh"], "--status-refresh"),
    ...(settings["health-listen"] !== undefined ? { healthListen: settings["health-listen"] } : {}),
  };
}
