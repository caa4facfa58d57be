import { decodeJson } from "../../common/json-decode.js";
import { kmsError } from "../kms-error.js";
import {
  optionalParam,
  parseBool,
  parsePage,
  parseRotationInterval,
  parseTags,
  requireParam,
  type Params,
} from "../key-params.js";
import { MAX_DESCRIPTION_CHARS, type KeyListFilters } from "../keys/index.js";
import type { ProtectionLevel } from "../protection/protection.js";
import type { ActionSpec } from "./action-spec.js";
import {
  accountAction,
  accountArn,
  keyAction,
  keyArn,
  keyChangeAction,
  ok,
  parseForce,
  pagedBody,
} from "./define-action.js";
import { keyMetadata } from "./key-bodies.js";

/** Keys: create, describe, list, describe anew, enable, disable. */

const isProtectionLevel = (v: string): v is ProtectionLevel => v === "SOFTWARE" || v === "HSM";

function parseCreateKey(p: Params) {
  const spec = optionalParam(p, "KeySpec") ?? "Aliyun_AES_256";
  if (spec !== "Aliyun_AES_256")
    throw kmsError("InvalidParameter", "KeySpec: only Aliyun_AES_256 is supported");
  const usage = optionalParam(p, "KeyUsage") ?? "ENCRYPT/DECRYPT";
  if (usage !== "ENCRYPT/DECRYPT")
    throw kmsError("InvalidParameter", "KeyUsage: only ENCRYPT/DECRYPT is supported");
  const origin = optionalParam(p, "Origin") ?? "Aliyun_KMS";
  if (origin !== "Aliyun_KMS") throw kmsError("InvalidParameter", "Origin: only Aliyun_KMS is supported");
  const level = optionalParam(p, "ProtectionLevel") ?? "SOFTWARE";
  if (!isProtectionLevel(level))
    throw kmsError("InvalidParameter", "ProtectionLevel: must be SOFTWARE or HSM");
  const automaticRotation = parseBool(p, "EnableAutomaticRotation", false);
  const interval = optionalParam(p, "RotationInterval");
  const rotationIntervalS = interval === undefined ? undefined : parseRotationInterval(interval);
  if (automaticRotation && interval === undefined)
    throw kmsError(
      "MissingParameter",
      'The input parameter "RotationInterval" is mandatory when EnableAutomaticRotation is true.',
    );
  const description = optionalParam(p, "Description") ?? "";
  if (description.length > MAX_DESCRIPTION_CHARS)
    throw kmsError("InvalidParameter", `Description: at most ${MAX_DESCRIPTION_CHARS} characters`);
  const tags = parseTags(p, { optional: true });
  return { protectionLevel: level, automaticRotation, rotationIntervalS, description, tags };
}

const CreateKey: ActionSpec = {
  prepare(p, ctx) {
    const input = parseCreateKey(p);
    ctx.keys.protection(input.protectionLevel); // HSM needs a PKCS#11 token on this server
    return Promise.resolve({
      resources: [{ arns: [accountArn(ctx, "key")] }],
      run: async () => {
        const row = await ctx.keys.createKey({
          ...input,
          keySpec: "Aliyun_AES_256",
          keyUsage: "ENCRYPT/DECRYPT",
          origin: "Aliyun_KMS",
          creator: ctx.principal,
        });
        return ok({ KeyMetadata: keyMetadata(row, ctx) }, row.key_id, row.primary_version_id);
      },
    });
  },
};

/** ListKeys `Filters`: `[{"Key":"KeyState"|"KeySpec"|"ProtectionLevel","Values":["…"]}]` (Alibaba's grammar). */
function parseKeyFilters(p: Params): KeyListFilters {
  const raw = optionalParam(p, "Filters");
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = decodeJson(raw);
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

export const KEY_ACTIONS = {
  CreateKey,
  DescribeKey: keyAction({
    readOnly: true,
    run: async (_, keyId, ctx) => {
      const row = await ctx.keys.getKey(keyId, { fresh: true });
      return ok({ KeyMetadata: keyMetadata(row, ctx) }, row.key_id);
    },
  }),
  ListKeys: accountAction({
    readOnly: true,
    resource: () => "key",
    parse: (p) => ({ page: parsePage(p), filters: parseKeyFilters(p) }),
    run: async ({ page, filters }, ctx) => {
      const { rows, total } = await ctx.keys.listKeys(page, filters);
      const keys = rows.map((r) => ({ KeyId: r.key_id, KeyArn: keyArn(ctx, r.key_id) }));
      return ok(pagedBody("Keys", "Key", keys, total, page));
    },
  }),
  UpdateKeyDescription: keyChangeAction((p) => ({
    op: "UpdateKeyDescription",
    description: requireParam(p, "Description"),
  })),
  EnableKey: keyChangeAction(() => ({ op: "EnableKey" })),
  DisableKey: keyChangeAction((p) => ({ op: "DisableKey", force: parseForce(p) })),
} satisfies Record<string, ActionSpec>;
