import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { AtrestError } from "../common/errors.js";
import { KmsClient, type KmsParams } from "../kms/client/kms-client.js";
import { clientOptionsFromProfile, loadKmsProfile } from "../kms/client/profile.js";
import { parsePolicyDocument } from "../kms/policy/policy-document.js";

/**
 * `atrest kms <admin command>`: a thin client over the signed KMS API. Each command parses its flags
 * into the action's parameters, calls the KMS and prints the answer (`-o json`: the response JSON).
 */

interface ConnectionFlags {
  profile?: string;
  endpoint?: string;
  accessKeyId?: string;
  accessKeySecret?: string;
  caFile?: string;
  region?: string;
  output?: string;
}

type Flags = ConnectionFlags & Record<string, unknown>;

/** Builds the client from --profile, then flags, then ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET. */
function clientFrom(flags: ConnectionFlags): KmsClient {
  const profile =
    flags.profile === undefined ? undefined : clientOptionsFromProfile(loadKmsProfile(flags.profile));
  const endpoint = flags.endpoint ?? profile?.endpoint;
  const env = (name: string) => (process.env[name] === "" ? undefined : process.env[name]);
  const accessKeyId = flags.accessKeyId ?? profile?.accessKeyId ?? env("ALIBABA_CLOUD_ACCESS_KEY_ID");
  const accessKeySecret =
    flags.accessKeySecret ?? profile?.accessKeySecret ?? env("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
  const caFile = flags.caFile ?? profile?.caFile;
  const regionId = flags.region ?? profile?.regionId;
  const missing = [
    endpoint === undefined ? "--endpoint" : undefined,
    accessKeyId === undefined ? "--access-key-id (or ALIBABA_CLOUD_ACCESS_KEY_ID)" : undefined,
    accessKeySecret === undefined ? "--access-key-secret (or ALIBABA_CLOUD_ACCESS_KEY_SECRET)" : undefined,
  ].filter((m): m is string => m !== undefined);
  if (endpoint === undefined || accessKeyId === undefined || accessKeySecret === undefined) {
    throw new AtrestError("invalid-argument", `missing ${missing.join(", ")}; or pass --profile FILE`);
  }
  return new KmsClient({
    endpoint,
    accessKeyId,
    accessKeySecret,
    ...(caFile === undefined ? {} : { caFile }),
    ...(regionId === undefined ? {} : { regionId }),
  });
}

function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option(
      "--profile <file>",
      "client profile JSON: endpoint, regionId, accessKeyId, accessKeySecret, caFile",
    )
    .option("--endpoint <url>", "KMS endpoint, e.g. https://127.0.0.1:9443")
    .option("--access-key-id <id>", "access key id (default: $ALIBABA_CLOUD_ACCESS_KEY_ID)")
    .option("--access-key-secret <secret>", "access key secret (default: $ALIBABA_CLOUD_ACCESS_KEY_SECRET)")
    .option("--ca-file <file>", "CA certificate (PEM) that signed the KMS's serving certificate")
    .option("--region <id>", "RegionId")
    .option("-o, --output <format>", "json for JSON output");
}

// ---- text output ----

function scalar(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** `Name: value` lines for a response (nested objects flattened as `A.B`), RequestId last. */
function describe(result: Record<string, unknown>, prefix = ""): string {
  let out = "";
  for (const [k, v] of Object.entries(result)) {
    if (prefix === "" && k === "RequestId") continue;
    if (v !== null && typeof v === "object" && !Array.isArray(v))
      out += describe(v as Record<string, unknown>, `${prefix}${k}.`);
    else out += `${prefix}${k}: ${scalar(v)}\n`;
  }
  return out;
}

/** Rows of a wrapped list (`{"Keys":{"Key":[…]}}`) as aligned columns. */
function table(rows: readonly Record<string, unknown>[], columns: readonly string[]): string {
  if (rows.length === 0) return "(none)\n";
  const cells = [
    columns as string[],
    ...rows.map((r) => columns.map((c) => (r[c] === undefined ? "" : scalar(r[c])))),
  ];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)));
  return cells
    .map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ") + "\n")
    .join("");
}

function listOf(result: Record<string, unknown>, wrapper: string, item: string): Record<string, unknown>[] {
  const w = result[wrapper];
  const list = w !== null && typeof w === "object" ? (w as Record<string, unknown>)[item] : undefined;
  return Array.isArray(list) ? (list as Record<string, unknown>[]) : [];
}

const listText =
  (wrapper: string, item: string, columns: readonly string[]) => (r: Record<string, unknown>) =>
    table(listOf(r, wrapper, item), columns);

// ---- flag helpers ----

function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === "string" ? v : undefined;
}

function readText(file: string, flag: string): string {
  try {
    return readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    throw new AtrestError("invalid-argument", `${flag}: cannot read ${file}`, { cause: err });
  }
}

function bool(value: string, flag: string): boolean {
  if (value === "true") return true;
  if (value === "false") return false;
  throw new AtrestError("invalid-argument", `${flag}: must be true or false`);
}

function jsonObjectText(value: string, flag: string): string {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch (err) {
    throw new AtrestError("invalid-argument", `${flag}: must be a JSON object`, { cause: err });
  }
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new AtrestError("invalid-argument", `${flag}: must be a JSON object`);
  return value;
}

function pageParams(flags: Flags): KmsParams {
  return { PageNumber: str(flags, "pageNumber"), PageSize: str(flags, "pageSize") };
}

// ---- the command table ----

interface Spec {
  readonly name: string;
  readonly description: string;
  readonly action: string | ((flags: Flags) => string);
  /** The API action(s) named in the help when `action` is chosen by the flags. */
  readonly label?: string;
  /** commander option definitions: [flags, description, required?] */
  readonly options?: readonly (readonly [string, string, boolean?])[];
  readonly params: (flags: Flags, client: KmsClient) => KmsParams | Promise<KmsParams>;
  readonly text?: (result: Record<string, unknown>) => string;
}

const KEY_ID: readonly [string, string, boolean] = ["--key-id <id>", "key id or alias (alias/…)", true];
/** atrest's Force=true: take a key away from a cluster that still needs it (audited as forced). */
const FORCE: readonly [string, string] = [
  "--force",
  "even while a cluster needs the key (an atrest:cluster:<name> tag); audited as forced",
];
const force = (f: Flags) => (f["force"] === true ? "true" : undefined);
const PAGE: readonly (readonly [string, string])[] = [
  ["--page-number <n>", "page number (from 1)"],
  ["--page-size <n>", "page size (1-100)"],
];

const SPECS: readonly Spec[] = [
  {
    name: "create-key",
    description: "create a key (Aliyun_AES_256)",
    action: "CreateKey",
    options: [
      ["--description <text>", "description"],
      ["--protection-level <level>", "SOFTWARE (default) or HSM"],
      ["--enable-automatic-rotation", "rotate automatically (needs --rotation-interval)"],
      ["--rotation-interval <interval>", "e.g. 30d or 604800s (7-730 days)"],
    ],
    params: (f) => ({
      KeySpec: "Aliyun_AES_256",
      Description: str(f, "description"),
      ProtectionLevel: str(f, "protectionLevel"),
      EnableAutomaticRotation: f["enableAutomaticRotation"] === true ? "true" : undefined,
      RotationInterval: str(f, "rotationInterval"),
    }),
  },
  {
    name: "describe-key",
    description: "show a key's metadata",
    action: "DescribeKey",
    options: [KEY_ID],
    params: (f) => ({ KeyId: str(f, "keyId") }),
  },
  {
    name: "list-keys",
    description: "list keys",
    action: "ListKeys",
    options: PAGE,
    params: pageParams,
    text: listText("Keys", "Key", ["KeyId", "KeyArn"]),
  },
  {
    name: "update-key-description",
    description: "change a key's description",
    action: "UpdateKeyDescription",
    options: [KEY_ID, ["--description <text>", "new description", true]],
    params: (f) => ({ KeyId: str(f, "keyId"), Description: str(f, "description") }),
  },
  {
    name: "enable-key",
    description: "enable a key",
    action: "EnableKey",
    options: [KEY_ID],
    params: (f) => ({ KeyId: str(f, "keyId") }),
  },
  {
    name: "disable-key",
    description: "disable a key (it can no longer encrypt or decrypt)",
    action: "DisableKey",
    options: [KEY_ID, FORCE],
    params: (f) => ({ KeyId: str(f, "keyId"), Force: force(f) }),
  },
  {
    name: "schedule-key-deletion",
    description: "schedule a key's deletion after a pending window",
    action: "ScheduleKeyDeletion",
    options: [KEY_ID, ["--pending-window-in-days <days>", "7-366", true], FORCE],
    params: (f) => ({
      KeyId: str(f, "keyId"),
      PendingWindowInDays: str(f, "pendingWindowInDays"),
      Force: force(f),
    }),
  },
  {
    name: "cancel-key-deletion",
    description: "cancel a scheduled deletion",
    action: "CancelKeyDeletion",
    options: [KEY_ID],
    params: (f) => ({ KeyId: str(f, "keyId") }),
  },
  {
    name: "set-deletion-protection",
    description: "turn deletion protection on (--enable) or off (--disable)",
    action: "SetDeletionProtection",
    options: [
      KEY_ID,
      ["--enable", "protect the key from deletion"],
      ["--disable", "remove the protection"],
      ["--protection-description <text>", "why the key is protected"],
      FORCE,
    ],
    params: async (f, client) => {
      if ((f["enable"] === true) === (f["disable"] === true))
        throw new AtrestError(
          "invalid-argument",
          "set-deletion-protection: give exactly one of --enable or --disable",
        );
      // SetDeletionProtection takes the key's ARN; ask the KMS for it (also resolves aliases).
      const described = await client.call("DescribeKey", { KeyId: str(f, "keyId") });
      const md = described["KeyMetadata"] as Record<string, unknown> | undefined;
      const arn = md?.["Arn"];
      if (typeof arn !== "string")
        throw new AtrestError("internal", "DescribeKey returned no KeyMetadata.Arn");
      return {
        ProtectedResourceArn: arn,
        EnableDeletionProtection: f["enable"] === true ? "true" : "false",
        DeletionProtectionDescription: str(f, "protectionDescription"),
        Force: force(f),
      };
    },
  },
  {
    name: "create-key-version",
    description: "rotate a key now: a new primary version",
    action: "CreateKeyVersion",
    options: [KEY_ID],
    params: (f) => ({ KeyId: str(f, "keyId") }),
  },
  {
    name: "list-key-versions",
    description: "list a key's versions",
    action: "ListKeyVersions",
    options: [KEY_ID, ...PAGE],
    params: (f) => ({ KeyId: str(f, "keyId"), ...pageParams(f) }),
    text: listText("KeyVersions", "KeyVersion", ["KeyVersionId", "CreationDate"]),
  },
  {
    name: "update-rotation-policy",
    description: "set automatic rotation",
    action: "UpdateRotationPolicy",
    options: [
      KEY_ID,
      ["--enable-automatic-rotation <bool>", "true or false", true],
      ["--rotation-interval <interval>", "e.g. 30d or 604800s"],
    ],
    params: (f) => ({
      KeyId: str(f, "keyId"),
      EnableAutomaticRotation: String(
        bool(str(f, "enableAutomaticRotation") ?? "", "--enable-automatic-rotation"),
      ),
      RotationInterval: str(f, "rotationInterval"),
    }),
  },
  {
    name: "encrypt",
    description: "encrypt a plaintext (prints the CiphertextBlob)",
    action: "Encrypt",
    options: [
      KEY_ID,
      ["--plaintext <text>", "the plaintext"],
      ["--plaintext-file <file>", "read the plaintext from a file ('-' for stdin)"],
      ["--encryption-context <json>", "a JSON object of strings"],
    ],
    params: (f) => {
      const inline = str(f, "plaintext");
      const file = str(f, "plaintextFile");
      if ((inline === undefined) === (file === undefined))
        throw new AtrestError(
          "invalid-argument",
          "encrypt: give exactly one of --plaintext or --plaintext-file",
        );
      const ctx = str(f, "encryptionContext");
      return {
        KeyId: str(f, "keyId"),
        Plaintext: inline ?? readText(file ?? "-", "--plaintext-file"),
        EncryptionContext: ctx === undefined ? undefined : jsonObjectText(ctx, "--encryption-context"),
      };
    },
    text: (r) => `${scalar(r["CiphertextBlob"])}\n`,
  },
  {
    name: "decrypt",
    description: "decrypt a CiphertextBlob (prints the plaintext)",
    action: "Decrypt",
    options: [
      ["--ciphertext-blob <blob>", "the CiphertextBlob"],
      ["--ciphertext-file <file>", "read the CiphertextBlob from a file ('-' for stdin)"],
      ["--encryption-context <json>", "the JSON object used to encrypt"],
    ],
    params: (f) => {
      const inline = str(f, "ciphertextBlob");
      const file = str(f, "ciphertextFile");
      if ((inline === undefined) === (file === undefined))
        throw new AtrestError(
          "invalid-argument",
          "decrypt: give exactly one of --ciphertext-blob or --ciphertext-file",
        );
      const ctx = str(f, "encryptionContext");
      return {
        CiphertextBlob: (inline ?? readText(file ?? "-", "--ciphertext-file")).trim(),
        EncryptionContext: ctx === undefined ? undefined : jsonObjectText(ctx, "--encryption-context"),
      };
    },
    text: (r) => `${scalar(r["Plaintext"])}\n`,
  },
  {
    name: "create-alias",
    description: "create an alias (alias/…) for a key",
    action: "CreateAlias",
    options: [["--alias-name <name>", "alias/…", true], KEY_ID],
    params: (f) => ({ AliasName: str(f, "aliasName"), KeyId: str(f, "keyId") }),
  },
  {
    name: "update-alias",
    description: "point an alias at another key",
    action: "UpdateAlias",
    options: [["--alias-name <name>", "alias/…", true], KEY_ID],
    params: (f) => ({ AliasName: str(f, "aliasName"), KeyId: str(f, "keyId") }),
  },
  {
    name: "delete-alias",
    description: "delete an alias",
    action: "DeleteAlias",
    options: [["--alias-name <name>", "alias/…", true]],
    params: (f) => ({ AliasName: str(f, "aliasName") }),
  },
  {
    name: "list-aliases",
    description: "list aliases (of one key with --key-id)",
    action: (f) => (str(f, "keyId") === undefined ? "ListAliases" : "ListAliasesByKeyId"),
    label: "ListAliases, ListAliasesByKeyId",
    options: [["--key-id <id>", "only this key's aliases"], ...PAGE],
    params: (f) => ({ KeyId: str(f, "keyId"), ...pageParams(f) }),
    text: listText("Aliases", "Alias", ["AliasName", "KeyId"]),
  },
  {
    name: "tag-resource",
    description: "set tags on a key",
    action: "TagResource",
    options: [KEY_ID, ["--tags <json>", '[{"TagKey":"team","TagValue":"infra"}]', true]],
    params: (f) => ({ KeyId: str(f, "keyId"), Tags: str(f, "tags") }),
  },
  {
    name: "untag-resource",
    description: "remove tags from a key (a cluster's atrest:cluster:<name> tag releases the key)",
    action: "UntagResource",
    options: [KEY_ID, ["--tag-keys <json>", '["team"]', true]],
    params: (f) => ({ KeyId: str(f, "keyId"), TagKeys: str(f, "tagKeys") }),
  },
  {
    name: "list-resource-tags",
    description: "list a key's tags",
    action: "ListResourceTags",
    options: [KEY_ID],
    params: (f) => ({ KeyId: str(f, "keyId") }),
    text: listText("Tags", "Tag", ["TagKey", "TagValue"]),
  },
  // ---- principals, access keys, policies (atrest extension actions) ----
  {
    name: "create-principal",
    description: "create a principal (a user of the KMS)",
    action: "CreatePrincipal",
    options: [["--principal-name <name>", "principal name", true]],
    params: (f) => ({ PrincipalName: str(f, "principalName") }),
  },
  {
    name: "list-principals",
    description: "list principals",
    action: "ListPrincipals",
    params: () => ({}),
    text: listText("Principals", "Principal", ["PrincipalName", "CreationDate"]),
  },
  {
    name: "delete-principal",
    description: "delete a principal",
    action: "DeletePrincipal",
    options: [["--principal-name <name>", "principal name", true]],
    params: (f) => ({ PrincipalName: str(f, "principalName") }),
  },
  {
    name: "create-access-key",
    description: "create an access key for a principal (the secret is shown once)",
    action: "CreateAccessKey",
    options: [["--principal-name <name>", "principal name", true]],
    params: (f) => ({ PrincipalName: str(f, "principalName") }),
    text: (r) =>
      `AccessKeyId: ${scalar(r["AccessKeyId"])}\nAccessKeySecret: ${scalar(r["AccessKeySecret"])}\n(the secret is not shown again; store it now)\n`,
  },
  {
    name: "list-access-keys",
    description: "list a principal's access keys (ids only)",
    action: "ListAccessKeys",
    options: [["--principal-name <name>", "principal name", true]],
    params: (f) => ({ PrincipalName: str(f, "principalName") }),
    text: listText("AccessKeys", "AccessKey", ["AccessKeyId", "CreationDate"]),
  },
  {
    name: "delete-access-key",
    description: "delete an access key",
    action: "DeleteAccessKey",
    // Not --access-key-id / AccessKeyId: those name the caller's own credentials (a common request
    // parameter). RAM's DeleteAccessKey calls the key to delete UserAccessKeyId.
    options: [["--user-access-key-id <id>", "the access key id to delete", true]],
    params: (f) => ({ UserAccessKeyId: str(f, "userAccessKeyId") }),
  },
  {
    name: "create-policy",
    description: "create a policy (Alibaba RAM grammar)",
    action: "CreatePolicy",
    options: [
      ["--policy-name <name>", "policy name", true],
      ["--policy-document <json>", "the policy JSON"],
      ["--policy-document-file <file>", "read the policy JSON from a file ('-' for stdin)"],
    ],
    params: (f) => {
      const inline = str(f, "policyDocument");
      const file = str(f, "policyDocumentFile");
      if ((inline === undefined) === (file === undefined))
        throw new AtrestError(
          "invalid-argument",
          "create-policy: give exactly one of --policy-document or --policy-document-file",
        );
      const doc = inline ?? readText(file ?? "-", "--policy-document-file");
      parsePolicyDocument(doc); // fail here, with every problem and its path, before calling the KMS
      return { PolicyName: str(f, "policyName"), PolicyDocument: doc };
    },
  },
  {
    name: "list-policies",
    description: "list policies (built-in and custom)",
    action: "ListPolicies",
    params: () => ({}),
    text: listText("Policies", "Policy", ["PolicyName", "PolicyType"]),
  },
  {
    name: "delete-policy",
    description: "delete a custom policy",
    action: "DeletePolicy",
    options: [["--policy-name <name>", "policy name", true]],
    params: (f) => ({ PolicyName: str(f, "policyName") }),
  },
  {
    name: "attach-policy",
    description: "attach a policy to a principal",
    action: "AttachPolicy",
    options: [
      ["--policy-name <name>", "policy name", true],
      ["--principal-name <name>", "principal name", true],
    ],
    params: (f) => ({ PolicyName: str(f, "policyName"), PrincipalName: str(f, "principalName") }),
  },
  {
    name: "detach-policy",
    description: "detach a policy from a principal",
    action: "DetachPolicy",
    options: [
      ["--policy-name <name>", "policy name", true],
      ["--principal-name <name>", "principal name", true],
    ],
    params: (f) => ({ PolicyName: str(f, "policyName"), PrincipalName: str(f, "principalName") }),
  },
];

/** Registers every admin command under `atrest kms`. */
export function registerKmsAdminCommands(kms: Command): void {
  for (const spec of SPECS) {
    const cmd = kms
      .command(spec.name)
      .description(
        `${spec.description} [${typeof spec.action === "string" ? spec.action : (spec.label ?? "")}]`,
      );
    for (const [flags, description, required] of spec.options ?? []) {
      if (required === true) cmd.requiredOption(flags, description);
      else cmd.option(flags, description);
    }
    addConnectionOptions(cmd);
    cmd.action(async (flags: Flags) => {
      // `atrest kms --profile FILE <command>` as well as `atrest kms <command> --profile FILE`.
      const parentProfile = kms.opts<{ profile?: string }>().profile;
      const client = clientFrom(
        flags.profile === undefined && parentProfile !== undefined
          ? { ...flags, profile: parentProfile }
          : flags,
      );
      try {
        const params = await spec.params(flags, client);
        const action = typeof spec.action === "string" ? spec.action : spec.action(flags);
        const result = await client.call(action, params);
        process.stdout.write(
          flags.output === "json"
            ? JSON.stringify(result, null, 2) + "\n"
            : (spec.text ?? describe)(result) || "OK\n",
        );
      } finally {
        client.close();
      }
    });
  }
}
