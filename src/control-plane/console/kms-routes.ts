import { z } from "zod";
import { apiRoute, parseBody, type ApiScope } from "./api-context.js";
import { consoleRefusal } from "./console-error.js";
import type { Upstream } from "./upstream.js";

/** The tag a cluster puts on a key it needs (src/kms/keys/cluster-tags.ts): value write or read. */
const CLUSTER_TAG_PREFIX = "atrest:cluster:";
const KEY_ID = /^[A-Za-z0-9:/_.-]{1,256}$/;

export interface ConsoleKey {
  readonly metadata: Record<string, unknown>;
  readonly aliases: string[];
  /** The clusters whose atrest:cluster:<name> tag is on the key, and how each uses it. */
  readonly clusters: Array<{ cluster: string; use: string }>;
}

function list<T>(value: unknown, ...path: string[]): T[] {
  let v: unknown = value;
  for (const p of path)
    v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[p] : undefined;
  return Array.isArray(v) ? (v as T[]) : [];
}

function keyIdParam(params: Readonly<Record<string, string>>): string {
  const id = params["keyId"] ?? "";
  if (!KEY_ID.test(id)) throw consoleRefusal("invalid-argument", "InvalidParameter", "KeyId: not a key id");
  return id;
}

async function describe(up: Upstream, keyId: string): Promise<ConsoleKey> {
  const [key, tags, aliases] = await Promise.all([
    up.call("kms", "DescribeKey", { KeyId: keyId }),
    up.call("kms", "ListResourceTags", { KeyId: keyId }),
    up.call("kms", "ListAliasesByKeyId", { KeyId: keyId, PageSize: 100 }),
  ]);
  return {
    metadata: (key["KeyMetadata"] ?? {}) as Record<string, unknown>,
    aliases: list<{ AliasName: string }>(aliases, "Aliases", "Alias").map((a) => a.AliasName),
    clusters: list<{ TagKey: string; TagValue: string }>(tags, "Tags", "Tag")
      .filter((t) => t.TagKey.startsWith(CLUSTER_TAG_PREFIX))
      .map((t) => ({ cluster: t.TagKey.slice(CLUSTER_TAG_PREFIX.length), use: t.TagValue })),
  };
}

async function allKeyIds(up: Upstream): Promise<string[]> {
  const ids: string[] = [];
  for (let page = 1; page <= 100; page++) {
    const r = await up.call("kms", "ListKeys", { PageNumber: page, PageSize: 100 });
    const keys = list<{ KeyId: string }>(r, "Keys", "Key");
    ids.push(...keys.map((k) => k.KeyId));
    if (keys.length < 100 || ids.length >= Number(r["TotalCount"] ?? 0)) break;
  }
  return ids;
}

const createKeyBody = z.strictObject({
  description: z.string().max(8192).default(""),
  protectionLevel: z.enum(["SOFTWARE", "HSM"]).default("SOFTWARE"),
  /** Automatic rotation every this many days (7 to 730, as KMS allows); none when absent. */
  rotationDays: z.number().int().min(7).max(730).optional(),
});
const scheduleBody = z.strictObject({ pendingWindowInDays: z.number().int().min(7).max(366) });
const protectionBody = z.strictObject({ enabled: z.boolean(), description: z.string().max(1024).optional() });
const rotationBody = z.strictObject({ rotationDays: z.number().int().min(7).max(730).nullable() });

/** KMS: keys, their versions and the clusters using them; create, rotate, enable/disable, deletion. */
export function registerKmsRoutes(scope: ApiScope): void {
  const key = "/kms/keys/:keyId";
  apiRoute(scope, "GET", "/kms/keys", async ({ upstream }) => {
    const ids = await allKeyIds(upstream);
    return { keys: await Promise.all(ids.map((id) => describe(upstream, id))) };
  });
  apiRoute(scope, "GET", key, async ({ upstream, params }) => {
    const id = keyIdParam(params);
    const [k, versions] = await Promise.all([
      describe(upstream, id),
      upstream.call("kms", "ListKeyVersions", { KeyId: id, PageSize: 100 }),
    ]);
    return { ...k, versions: list(versions, "KeyVersions", "KeyVersion") };
  });
  apiRoute(scope, "POST", "/kms/keys", async ({ upstream, body }) => {
    const b = parseBody(createKeyBody, body);
    const r = await upstream.call("kms", "CreateKey", {
      KeySpec: "Aliyun_AES_256",
      KeyUsage: "ENCRYPT/DECRYPT",
      ProtectionLevel: b.protectionLevel,
      Description: b.description,
      ...(b.rotationDays === undefined
        ? {}
        : { EnableAutomaticRotation: true, RotationInterval: `${b.rotationDays * 86_400}s` }),
    });
    return { keyId: (r["KeyMetadata"] as { KeyId?: string } | undefined)?.KeyId };
  });
  const simple = (path: string, action: string) =>
    apiRoute(scope, "POST", `${key}/${path}`, async ({ upstream, params }) => {
      await upstream.call("kms", action, { KeyId: keyIdParam(params) });
      return {};
    });
  simple("enable", "EnableKey");
  simple("disable", "DisableKey");
  simple("rotate", "CreateKeyVersion");
  simple("cancel-deletion", "CancelKeyDeletion");
  apiRoute(scope, "POST", `${key}/schedule-deletion`, async ({ upstream, params, body }) => {
    const b = parseBody(scheduleBody, body);
    await upstream.call("kms", "ScheduleKeyDeletion", {
      KeyId: keyIdParam(params),
      PendingWindowInDays: b.pendingWindowInDays,
    });
    return {};
  });
  apiRoute(scope, "POST", `${key}/deletion-protection`, async ({ upstream, params, body }) => {
    const b = parseBody(protectionBody, body);
    const { KeyMetadata } = await upstream.call("kms", "DescribeKey", { KeyId: keyIdParam(params) });
    await upstream.call("kms", "SetDeletionProtection", {
      ProtectedResourceArn: (KeyMetadata as { Arn?: string } | undefined)?.Arn,
      EnableDeletionProtection: b.enabled,
      DeletionProtectionDescription: b.description,
    });
    return {};
  });
  apiRoute(scope, "POST", `${key}/rotation-policy`, async ({ upstream, params, body }) => {
    const b = parseBody(rotationBody, body);
    await upstream.call("kms", "UpdateRotationPolicy", {
      KeyId: keyIdParam(params),
      EnableAutomaticRotation: b.rotationDays !== null,
      RotationInterval: b.rotationDays === null ? undefined : `${b.rotationDays * 86_400}s`,
    });
    return {};
  });
}
