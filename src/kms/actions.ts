import { randomBytes } from "node:crypto";
import type { AccessStore } from "./access-store.js";
import { parseEncryptionContext } from "./encryption-context.js";
import { kmsError } from "./kms-error.js";
import {
  MAX_PLAINTEXT_BYTES,
  type KeyListFilters,
  type KeyRow,
  type KeyService,
  type KeyVersionRow,
} from "./key-service.js";
import {
  isoSeconds,
  optionalParam,
  parseAliasName,
  parseBool,
  parseIntParam,
  parsePage,
  parseRotationInterval,
  parseTagKeys,
  parseTags,
  requireParam,
  type Params,
} from "./key-params.js";
import type { ProtectionLevel } from "./protection/protection.js";

export interface ActionContext {
  readonly keys: KeyService;
  readonly access: AccessStore;
  readonly region: string;
  readonly accountId: string;
  readonly principal: string;
}

/** A resource the policy check evaluates; the request is allowed on it if any of `arns` is allowed. */
export interface ResolvedResource {
  readonly arns: readonly string[];
  readonly keyId?: string;
  readonly keyVersionId?: string;
}

export interface ActionResult {
  readonly body: Record<string, unknown>;
  readonly keyId?: string;
  readonly keyVersionId?: string;
}

export interface ActionSpec {
  /**
   * True for actions that change nothing stored (cryptography, describe, list). Every other action's
   * success is made durable (KmsDb.sync) before it is answered, so forgetting the flag costs an fsync.
   */
  readonly readOnly?: true;
  /** Resolves (and validates) what the request acts on, before the policy check; changes nothing. */
  resources(p: Params, ctx: ActionContext): Promise<ResolvedResource[]>;
  run(p: Params, ctx: ActionContext, resources: ResolvedResource[]): Promise<ActionResult>;
}

export function keyArn(ctx: Pick<ActionContext, "region" | "accountId">, keyId: string): string {
  return `acs:kms:${ctx.region}:${ctx.accountId}:key/${keyId}`;
}

function accountArn(ctx: ActionContext, suffix: string): string {
  return `acs:kms:${ctx.region}:${ctx.accountId}:${suffix}`;
}

/** Resolves a KeyId parameter (id, alias or ARN) into the key's ARN plus the alias ARN it came by. */
async function keyResource(ctx: ActionContext, value: string): Promise<ResolvedResource> {
  const keyId = await ctx.keys.resolveKeyId(value);
  await ctx.keys.getKey(keyId);
  const arns = [keyArn(ctx, keyId)];
  const alias = /(?:^|:)(alias\/.+)$/.exec(value);
  if (alias !== null) arns.push(accountArn(ctx, alias[1]!));
  return { arns, keyId };
}

const keyParam =
  (name = "KeyId") =>
  async (p: Params, ctx: ActionContext) => [await keyResource(ctx, requireParam(p, name))];
const accountLevel = (suffix: string) => (_p: Params, ctx: ActionContext) =>
  Promise.resolve([{ arns: [accountArn(ctx, suffix)] }]);

function keyIdOf(resources: ResolvedResource[], i = 0): string {
  const id = resources[i]?.keyId;
  if (id === undefined) throw new Error("resource without key id");
  return id;
}

export function keyMetadata(
  row: KeyRow,
  ctx: Pick<ActionContext, "region" | "accountId">,
): Record<string, unknown> {
  const md: Record<string, unknown> = {
    KeyId: row.key_id,
    Arn: keyArn(ctx, row.key_id),
    KeyState: row.key_state,
    KeySpec: row.key_spec,
    KeyUsage: row.key_usage,
    Origin: row.origin,
    ProtectionLevel: row.protection_level,
    Description: row.description,
    Creator: row.creator,
    CreationDate: isoSeconds(row.created_at),
    PrimaryKeyVersion: row.primary_version_id,
    AutomaticRotation: row.automatic_rotation,
    DeletionProtection: row.deletion_protection === 1 ? "Enabled" : "Disabled",
    MaterialExpireTime: "",
  };
  if (row.last_rotation_at !== null) md.LastRotationDate = isoSeconds(row.last_rotation_at);
  if (row.rotation_interval_s !== null) md.RotationInterval = `${row.rotation_interval_s}s`;
  if (row.next_rotation_at !== null) md.NextRotationDate = isoSeconds(row.next_rotation_at);
  if (row.delete_at !== null) md.DeleteDate = isoSeconds(row.delete_at);
  if (row.deletion_protection === 1) md.DeletionProtectionDescription = row.deletion_protection_description;
  return md;
}

function versionBody(v: KeyVersionRow): Record<string, unknown> {
  return { KeyId: v.key_id, KeyVersionId: v.key_version_id, CreationDate: isoSeconds(v.created_at) };
}

function plaintextParam(p: Params): Buffer {
  const text = requireParam(p, "Plaintext");
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length > MAX_PLAINTEXT_BYTES)
    throw kmsError("InvalidParameter", `Plaintext: must be at most ${MAX_PLAINTEXT_BYTES} bytes`);
  return bytes;
}

function dataKeyBytes(p: Params): number {
  if (optionalParam(p, "NumberOfBytes") !== undefined)
    return parseIntParam(p, "NumberOfBytes", { min: 1, max: 1024 });
  const spec = optionalParam(p, "KeySpec") ?? "AES_256";
  if (spec === "AES_256") return 32;
  if (spec === "AES_128") return 16;
  throw kmsError("InvalidParameter", "KeySpec: must be AES_256 or AES_128");
}

/** Parses what a data-key action needs up front (so bad input fails before the policy check). */
function checkDataKeyParams(p: Params): void {
  dataKeyBytes(p);
  parseEncryptionContext(p);
}

const blobResource = async (p: Params, ctx: ActionContext): Promise<ResolvedResource> => {
  const { keyId, keyVersionId } = ctx.keys.peekBlobKeyId(requireParam(p, "CiphertextBlob"));
  await ctx.keys.getKey(keyId);
  return { arns: [keyArn(ctx, keyId)], keyId, keyVersionId };
};

const ok = (body: Record<string, unknown> = {}, keyId?: string, keyVersionId?: string): ActionResult => ({
  body,
  ...(keyId === undefined ? {} : { keyId }),
  ...(keyVersionId === undefined ? {} : { keyVersionId }),
});

/** ListKeys `Filters`: `[{"Key":"KeyState"|"KeySpec"|"ProtectionLevel","Values":["…"]}]` (Alibaba's grammar). */
function parseKeyFilters(p: Params): KeyListFilters {
  const raw = optionalParam(p, "Filters");
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw kmsError("InvalidParameter", "Filters: must be valid JSON");
  }
  if (!Array.isArray(parsed) || parsed.length > 10)
    throw kmsError("InvalidParameter", "Filters: must be a JSON array of at most 10 {Key, Values}");
  const out: { -readonly [K in keyof KeyListFilters]: string[] } = {};
  parsed.forEach((f: unknown, i) => {
    const o = f as { Key?: unknown; Values?: unknown } | null;
    if (
      o === null ||
      typeof o !== "object" ||
      (o.Key !== "KeyState" && o.Key !== "KeySpec" && o.Key !== "ProtectionLevel")
    ) {
      throw kmsError("InvalidParameter", `Filters[${i}].Key: must be KeyState, KeySpec or ProtectionLevel`);
    }
    if (
      !Array.isArray(o.Values) ||
      o.Values.length === 0 ||
      o.Values.length > 10 ||
      o.Values.some((v) => typeof v !== "string")
    ) {
      throw kmsError("InvalidParameter", `Filters[${i}].Values: must be 1-10 strings`);
    }
    out[o.Key] = [...(out[o.Key] ?? []), ...(o.Values as string[])];
  });
  return out;
}

function page(p: Params) {
  return parsePage(p);
}

/** Every action atrest kms serves (DESIGN.md §7), plus the principal/policy extension actions. */
export const ACTIONS: Readonly<Record<string, ActionSpec>> = {
  CreateKey: {
    resources: async (p, ctx) => {
      const spec = optionalParam(p, "KeySpec") ?? "Aliyun_AES_256";
      if (spec !== "Aliyun_AES_256")
        throw kmsError("InvalidParameter", "KeySpec: only Aliyun_AES_256 is supported");
      const usage = optionalParam(p, "KeyUsage") ?? "ENCRYPT/DECRYPT";
      if (usage !== "ENCRYPT/DECRYPT")
        throw kmsError("InvalidParameter", "KeyUsage: only ENCRYPT/DECRYPT is supported");
      const origin = optionalParam(p, "Origin") ?? "Aliyun_KMS";
      if (origin !== "Aliyun_KMS") throw kmsError("InvalidParameter", "Origin: only Aliyun_KMS is supported");
      const level = optionalParam(p, "ProtectionLevel") ?? "SOFTWARE";
      if (level !== "SOFTWARE" && level !== "HSM")
        throw kmsError("InvalidParameter", "ProtectionLevel: must be SOFTWARE or HSM");
      ctx.keys.protection(level);
      const rotation = parseBool(p, "EnableAutomaticRotation", false);
      const interval = optionalParam(p, "RotationInterval");
      if (interval !== undefined) parseRotationInterval(interval);
      if (rotation && interval === undefined)
        throw kmsError(
          "MissingParameter",
          'The input parameter "RotationInterval" is mandatory when EnableAutomaticRotation is true.',
        );
      if ((optionalParam(p, "Description") ?? "").length > 8192)
        throw kmsError("InvalidParameter", "Description: at most 8192 characters");
      return accountLevel("key")(p, ctx);
    },
    run: async (p, ctx) => {
      const interval = optionalParam(p, "RotationInterval");
      const row = await ctx.keys.createKey({
        description: optionalParam(p, "Description") ?? "",
        protectionLevel: (optionalParam(p, "ProtectionLevel") ?? "SOFTWARE") as ProtectionLevel,
        keySpec: "Aliyun_AES_256",
        keyUsage: "ENCRYPT/DECRYPT",
        origin: "Aliyun_KMS",
        automaticRotation: parseBool(p, "EnableAutomaticRotation", false),
        rotationIntervalS: interval === undefined ? undefined : parseRotationInterval(interval),
        creator: ctx.principal,
      });
      return ok({ KeyMetadata: keyMetadata(row, ctx) }, row.key_id, row.primary_version_id);
    },
  },
  DescribeKey: {
    readOnly: true,
    resources: keyParam(),
    run: async (_p, ctx, r) => {
      const row = await ctx.keys.getKey(keyIdOf(r), { fresh: true });
      return ok({ KeyMetadata: keyMetadata(row, ctx) }, row.key_id);
    },
  },
  ListKeys: {
    readOnly: true,
    resources: async (p, ctx) => {
      page(p);
      parseKeyFilters(p);
      return accountLevel("key")(p, ctx);
    },
    run: async (p, ctx) => {
      const pg = page(p);
      const { rows, total } = await ctx.keys.listKeys(pg, parseKeyFilters(p));
      return ok({
        Keys: { Key: rows.map((r) => ({ KeyId: r.key_id, KeyArn: keyArn(ctx, r.key_id) })) },
        TotalCount: total,
        PageNumber: pg.pageNumber,
        PageSize: pg.pageSize,
      });
    },
  },
  UpdateKeyDescription: {
    resources: async (p, ctx) => {
      requireParam(p, "Description");
      return keyParam()(p, ctx);
    },
    run: async (p, ctx, r) => {
      await ctx.keys.updateDescription(keyIdOf(r), requireParam(p, "Description"));
      return ok({}, keyIdOf(r));
    },
  },
  EnableKey: {
    resources: keyParam(),
    run: async (_p, ctx, r) => {
      await ctx.keys.enableKey(keyIdOf(r));
      return ok({}, keyIdOf(r));
    },
  },
  DisableKey: {
    resources: keyParam(),
    run: async (_p, ctx, r) => {
      await ctx.keys.disableKey(keyIdOf(r));
      return ok({}, keyIdOf(r));
    },
  },
  ScheduleKeyDeletion: {
    resources: async (p, ctx) => {
      parseIntParam(p, "PendingWindowInDays", { min: 7, max: 366 });
      return keyParam()(p, ctx);
    },
    run: async (p, ctx, r) => {
      await ctx.keys.scheduleKeyDeletion(
        keyIdOf(r),
        parseIntParam(p, "PendingWindowInDays", { min: 7, max: 366 }),
      );
      return ok({}, keyIdOf(r));
    },
  },
  CancelKeyDeletion: {
    resources: keyParam(),
    run: async (_p, ctx, r) => {
      await ctx.keys.cancelKeyDeletion(keyIdOf(r));
      return ok({}, keyIdOf(r));
    },
  },
  SetDeletionProtection: {
    resources: async (p, ctx) => {
      parseBool(p, "EnableDeletionProtection", false);
      requireParam(p, "EnableDeletionProtection");
      const arn = requireParam(p, "ProtectedResourceArn");
      const m = /^acs:kms:[^:]*:[^:]*:key\/(.+)$/.exec(arn);
      if (m === null)
        throw kmsError(
          "InvalidParameter",
          "ProtectedResourceArn: must be a key ARN acs:kms:<region>:<account>:key/<id>",
        );
      return [await keyResource(ctx, m[1]!)];
    },
    run: async (p, ctx, r) => {
      await ctx.keys.setDeletionProtection(
        keyIdOf(r),
        parseBool(p, "EnableDeletionProtection", false),
        optionalParam(p, "DeletionProtectionDescription") ?? "",
      );
      return ok({}, keyIdOf(r));
    },
  },
  CreateKeyVersion: {
    resources: keyParam(),
    run: async (_p, ctx, r) => {
      const res = await ctx.keys.createKeyVersion(keyIdOf(r));
      if (res === undefined) throw new Error("rotation did not happen");
      return ok({ KeyVersion: versionBody(res.version) }, res.key.key_id, res.version.key_version_id);
    },
  },
  ListKeyVersions: {
    readOnly: true,
    resources: async (p, ctx) => {
      page(p);
      return keyParam()(p, ctx);
    },
    run: async (p, ctx, r) => {
      const pg = page(p);
      const { rows, total } = await ctx.keys.listVersions(keyIdOf(r), pg);
      return ok(
        {
          KeyVersions: { KeyVersion: rows.map(versionBody) },
          TotalCount: total,
          PageNumber: pg.pageNumber,
          PageSize: pg.pageSize,
        },
        keyIdOf(r),
      );
    },
  },
  DescribeKeyVersion: {
    readOnly: true,
    resources: async (p, ctx) => {
      requireParam(p, "KeyVersionId");
      return keyParam()(p, ctx);
    },
    run: async (p, ctx, r) => {
      const v = await ctx.keys.getVersion(keyIdOf(r), requireParam(p, "KeyVersionId"));
      return ok({ KeyVersion: versionBody(v) }, v.key_id, v.key_version_id);
    },
  },
  UpdateRotationPolicy: {
    resources: async (p, ctx) => {
      requireParam(p, "EnableAutomaticRotation");
      parseBool(p, "EnableAutomaticRotation", false);
      const interval = optionalParam(p, "RotationInterval");
      if (interval !== undefined) parseRotationInterval(interval);
      return keyParam()(p, ctx);
    },
    run: async (p, ctx, r) => {
      const interval = optionalParam(p, "RotationInterval");
      await ctx.keys.updateRotationPolicy(
        keyIdOf(r),
        parseBool(p, "EnableAutomaticRotation", false),
        interval === undefined ? undefined : parseRotationInterval(interval),
      );
      return ok({}, keyIdOf(r));
    },
  },
  Encrypt: {
    readOnly: true,
    resources: async (p, ctx) => {
      plaintextParam(p);
      parseEncryptionContext(p);
      return keyParam()(p, ctx);
    },
    run: async (p, ctx, r) => {
      const res = await ctx.keys.encrypt(keyIdOf(r), plaintextParam(p), parseEncryptionContext(p));
      return ok(
        { CiphertextBlob: res.ciphertextBlob, KeyId: res.keyId, KeyVersionId: res.keyVersionId },
        res.keyId,
        res.keyVersionId,
      );
    },
  },
  Decrypt: {
    readOnly: true,
    resources: async (p, ctx) => {
      parseEncryptionContext(p);
      return [await blobResource(p, ctx)];
    },
    run: async (p, ctx) => {
      const res = await ctx.keys.decrypt(requireParam(p, "CiphertextBlob"), parseEncryptionContext(p));
      return ok(
        { Plaintext: res.plaintext.toString("utf8"), KeyId: res.keyId, KeyVersionId: res.keyVersionId },
        res.keyId,
        res.keyVersionId,
      );
    },
  },
  GenerateDataKey: {
    readOnly: true,
    resources: async (p, ctx) => {
      checkDataKeyParams(p);
      return keyParam()(p, ctx);
    },
    run: async (p, ctx, r) => {
      const dataKey = randomBytes(dataKeyBytes(p)).toString("base64");
      const res = await ctx.keys.encrypt(keyIdOf(r), Buffer.from(dataKey, "utf8"), parseEncryptionContext(p));
      return ok(
        {
          CiphertextBlob: res.ciphertextBlob,
          KeyId: res.keyId,
          KeyVersionId: res.keyVersionId,
          Plaintext: dataKey,
        },
        res.keyId,
        res.keyVersionId,
      );
    },
  },
  GenerateDataKeyWithoutPlaintext: {
    readOnly: true,
    resources: async (p, ctx) => {
      checkDataKeyParams(p);
      return keyParam()(p, ctx);
    },
    run: async (p, ctx, r) => {
      const dataKey = randomBytes(dataKeyBytes(p)).toString("base64");
      const res = await ctx.keys.encrypt(keyIdOf(r), Buffer.from(dataKey, "utf8"), parseEncryptionContext(p));
      return ok(
        { CiphertextBlob: res.ciphertextBlob, KeyId: res.keyId, KeyVersionId: res.keyVersionId },
        res.keyId,
        res.keyVersionId,
      );
    },
  },
  ReEncrypt: {
    readOnly: true,
    resources: async (p, ctx) => {
      parseEncryptionContext(p, "SourceEncryptionContext");
      parseEncryptionContext(p, "DestinationEncryptionContext");
      const source = await blobResource(p, ctx);
      const dest = await keyResource(ctx, requireParam(p, "DestinationKeyId"));
      return [dest, source];
    },
    run: async (p, ctx, r) => {
      // The plaintext stays inside this function: decrypted with the source key, sealed with the
      // destination key's primary version, never returned.
      const src = await ctx.keys.decrypt(
        requireParam(p, "CiphertextBlob"),
        parseEncryptionContext(p, "SourceEncryptionContext"),
      );
      try {
        const res = await ctx.keys.encrypt(
          keyIdOf(r, 0),
          src.plaintext,
          parseEncryptionContext(p, "DestinationEncryptionContext"),
        );
        return ok(
          { CiphertextBlob: res.ciphertextBlob, KeyId: res.keyId, KeyVersionId: res.keyVersionId },
          res.keyId,
          res.keyVersionId,
        );
      } finally {
        src.plaintext.fill(0);
      }
    },
  },
  CreateAlias: {
    resources: async (p, ctx) => {
      const alias = parseAliasName(requireParam(p, "AliasName"));
      const key = await keyResource(ctx, requireParam(p, "KeyId"));
      return [{ ...key, arns: [...key.arns, accountArn(ctx, alias)] }];
    },
    run: async (p, ctx, r) => {
      await ctx.keys.createAlias(parseAliasName(requireParam(p, "AliasName")), keyIdOf(r));
      return ok({}, keyIdOf(r));
    },
  },
  UpdateAlias: {
    resources: async (p, ctx) => {
      const alias = parseAliasName(requireParam(p, "AliasName"));
      const key = await keyResource(ctx, requireParam(p, "KeyId"));
      return [{ ...key, arns: [...key.arns, accountArn(ctx, alias)] }];
    },
    run: async (p, ctx, r) => {
      await ctx.keys.updateAlias(parseAliasName(requireParam(p, "AliasName")), keyIdOf(r));
      return ok({}, keyIdOf(r));
    },
  },
  DeleteAlias: {
    resources: async (p, ctx) => {
      const alias = parseAliasName(requireParam(p, "AliasName"));
      const keyId = await ctx.keys.resolveKeyId(alias);
      return [{ arns: [accountArn(ctx, alias), keyArn(ctx, keyId)], keyId }];
    },
    run: async (p, ctx, r) => {
      await ctx.keys.deleteAlias(parseAliasName(requireParam(p, "AliasName")));
      return ok({}, keyIdOf(r));
    },
  },
  ListAliases: {
    readOnly: true,
    resources: async (p, ctx) => {
      page(p);
      return accountLevel("alias")(p, ctx);
    },
    run: async (p, ctx) => {
      const pg = page(p);
      const { rows, total } = await ctx.keys.listAliases(pg);
      return ok({
        Aliases: {
          Alias: rows.map((a) => ({
            AliasName: a.alias_name,
            AliasArn: accountArn(ctx, a.alias_name),
            KeyId: a.key_id,
          })),
        },
        TotalCount: total,
        PageNumber: pg.pageNumber,
        PageSize: pg.pageSize,
      });
    },
  },
  ListAliasesByKeyId: {
    readOnly: true,
    resources: async (p, ctx) => {
      page(p);
      return keyParam()(p, ctx);
    },
    run: async (p, ctx, r) => {
      const pg = page(p);
      const { rows, total } = await ctx.keys.listAliases(pg, keyIdOf(r));
      return ok(
        {
          Aliases: {
            Alias: rows.map((a) => ({
              AliasName: a.alias_name,
              AliasArn: accountArn(ctx, a.alias_name),
              KeyId: a.key_id,
            })),
          },
          TotalCount: total,
          PageNumber: pg.pageNumber,
          PageSize: pg.pageSize,
        },
        keyIdOf(r),
      );
    },
  },
  TagResource: {
    resources: async (p, ctx) => {
      parseTags(p);
      return keyParam()(p, ctx);
    },
    run: async (p, ctx, r) => {
      await ctx.keys.tagResource(keyIdOf(r), parseTags(p));
      return ok({}, keyIdOf(r));
    },
  },
  UntagResource: {
    resources: async (p, ctx) => {
      parseTagKeys(p);
      return keyParam()(p, ctx);
    },
    run: async (p, ctx, r) => {
      await ctx.keys.untagResource(keyIdOf(r), parseTagKeys(p));
      return ok({}, keyIdOf(r));
    },
  },
  ListResourceTags: {
    readOnly: true,
    resources: keyParam(),
    run: async (_p, ctx, r) => {
      const tags = await ctx.keys.listTags(keyIdOf(r));
      return ok(
        { Tags: { Tag: tags.map((t) => ({ KeyId: keyIdOf(r), TagKey: t.tag_key, TagValue: t.tag_value })) } },
        keyIdOf(r),
      );
    },
  },

  // ---- extension actions (not Alibaba's): principals, access keys, policies ----
  CreatePrincipal: {
    resources: (p, ctx) => accountLevel(`principal/${requireParam(p, "PrincipalName")}`)(p, ctx),
    run: async (p, ctx) => {
      await ctx.access.createPrincipal(requireParam(p, "PrincipalName"));
      return ok({ PrincipalName: requireParam(p, "PrincipalName") });
    },
  },
  ListPrincipals: {
    readOnly: true,
    resources: accountLevel("principal/*"),
    run: async (_p, ctx) => {
      const rows = await ctx.access.listPrincipals();
      return ok({
        Principals: {
          Principal: rows.map((r) => ({
            PrincipalName: r.principal_name,
            CreationDate: isoSeconds(r.created_at),
          })),
        },
      });
    },
  },
  DeletePrincipal: {
    resources: (p, ctx) => accountLevel(`principal/${requireParam(p, "PrincipalName")}`)(p, ctx),
    run: async (p, ctx) => {
      if (requireParam(p, "PrincipalName") === ctx.principal)
        throw kmsError("Rejected.UnsupportedOperation", "a principal cannot delete itself");
      await ctx.access.deletePrincipal(requireParam(p, "PrincipalName"));
      return ok();
    },
  },
  CreateAccessKey: {
    resources: (p, ctx) => accountLevel(`principal/${requireParam(p, "PrincipalName")}`)(p, ctx),
    run: async (p, ctx) => {
      const ak = await ctx.access.createAccessKey(requireParam(p, "PrincipalName"));
      return ok({
        AccessKeyId: ak.accessKeyId,
        AccessKeySecret: ak.accessKeySecret,
        PrincipalName: requireParam(p, "PrincipalName"),
      });
    },
  },
  ListAccessKeys: {
    readOnly: true,
    resources: (p, ctx) => accountLevel(`principal/${requireParam(p, "PrincipalName")}`)(p, ctx),
    run: async (p, ctx) => {
      const rows = await ctx.access.listAccessKeys(requireParam(p, "PrincipalName"));
      return ok({
        AccessKeys: {
          AccessKey: rows.map((r) => ({
            AccessKeyId: r.access_key_id,
            CreationDate: isoSeconds(r.created_at),
          })),
        },
      });
    },
  },
  DeleteAccessKey: {
    // UserAccessKeyId (as RAM names it): AccessKeyId is the caller's own credential, a common parameter.
    resources: (p, ctx) => accountLevel(`accesskey/${requireParam(p, "UserAccessKeyId")}`)(p, ctx),
    run: async (p, ctx) => {
      await ctx.access.deleteAccessKey(requireParam(p, "UserAccessKeyId"));
      return ok();
    },
  },
  CreatePolicy: {
    resources: (p, ctx) => {
      requireParam(p, "PolicyDocument");
      return accountLevel(`policy/${requireParam(p, "PolicyName")}`)(p, ctx);
    },
    run: async (p, ctx) => {
      await ctx.access.createPolicy(requireParam(p, "PolicyName"), requireParam(p, "PolicyDocument"));
      return ok({ PolicyName: requireParam(p, "PolicyName") });
    },
  },
  ListPolicies: {
    readOnly: true,
    resources: accountLevel("policy/*"),
    run: async (_p, ctx) => {
      const rows = await ctx.access.listPolicies();
      return ok({
        Policies: {
          Policy: rows.map((r) => ({
            PolicyName: r.name,
            PolicyType: r.builtin ? "System" : "Custom",
            PolicyDocument: r.document,
          })),
        },
      });
    },
  },
  DeletePolicy: {
    resources: (p, ctx) => accountLevel(`policy/${requireParam(p, "PolicyName")}`)(p, ctx),
    run: async (p, ctx) => {
      await ctx.access.deletePolicy(requireParam(p, "PolicyName"));
      return ok();
    },
  },
  AttachPolicy: {
    resources: (p, ctx) => {
      requireParam(p, "PrincipalName");
      return accountLevel(`policy/${requireParam(p, "PolicyName")}`)(p, ctx);
    },
    run: async (p, ctx) => {
      await ctx.access.attachPolicy(requireParam(p, "PolicyName"), requireParam(p, "PrincipalName"));
      return ok();
    },
  },
  DetachPolicy: {
    resources: (p, ctx) => {
      requireParam(p, "PrincipalName");
      return accountLevel(`policy/${requireParam(p, "PolicyName")}`)(p, ctx);
    },
    run: async (p, ctx) => {
      await ctx.access.detachPolicy(requireParam(p, "PolicyName"), requireParam(p, "PrincipalName"));
      return ok();
    },
  },
};
