import { isAtrestError, type AtrestError } from "../../common/errors.js";
import { kmsError } from "../kms-error.js";
import { parseBool, requireParam, type Params } from "../key-params.js";
import type { KeyChange } from "../keys/index.js";
import type { ActionContext, ActionResult, ActionSpec, ResolvedResource } from "./action-spec.js";

/** The ARN of a key. */
export function keyArn(ctx: Pick<ActionContext, "region" | "accountId">, keyId: string): string {
  return `acs:kms:${ctx.region}:${ctx.accountId}:key/${keyId}`;
}

/** The ARN of an account-level resource: `key`, `alias`, `alias/<AliasName>`, `principal/<name>`, … */
export function accountArn(ctx: Pick<ActionContext, "region" | "accountId">, suffix: string): string {
  return `acs:kms:${ctx.region}:${ctx.accountId}:${suffix}`;
}

export interface KeyResource extends ResolvedResource {
  /** The resolved key id ("" when the key or alias does not exist: see `notFound`). */
  readonly keyId: string;
}

const NOT_FOUND_CODES = new Set(["Forbidden.AliasNotFound", "Forbidden.KeyNotFound"]);

function isNotFound(err: unknown): err is AtrestError {
  return isAtrestError(err) && NOT_FOUND_CODES.has(String(err.details.kmsCode));
}

/**
 * Resolves a KeyId parameter (id, alias or ARN) into the ARNs the policy check evaluates: the alias's
 * ARN first when it came by alias (errors name what the caller named, never the key behind an alias
 * it may not see), then the key's. An unknown alias or key is resolved to what was named, with
 * `notFound` set (raised after the policy check). An ARN naming another region or account names no key
 * of this KMS (it serves one region of one account), whatever key id it ends with.
 */
export async function keyResource(ctx: ActionContext, value: string): Promise<KeyResource> {
  const arn = /^acs:kms:([^:]*):([^:]*):/.exec(value);
  if (arn !== null && (arn[1] !== ctx.region || arn[2] !== ctx.accountId))
    return {
      arns: [value],
      keyId: "",
      notFound: kmsError(
        "Forbidden.KeyNotFound",
        `The specified Key is not found: ${value} (the ARN names region ${arn[1]}, account ${arn[2]}; this KMS serves region ${ctx.region}, account ${ctx.accountId})`,
      ),
    };
  const alias = /(?:^|:)(alias\/.+)$/.exec(value);
  const aliasArns = alias === null ? [] : [accountArn(ctx, alias[1]!)];
  let keyId: string;
  try {
    keyId = await ctx.keys.resolveKeyId(value);
  } catch (err) {
    if (isNotFound(err)) return { arns: aliasArns, keyId: "", notFound: err };
    throw err;
  }
  const arns = [...aliasArns, keyArn(ctx, keyId)];
  try {
    await ctx.keys.getKey(keyId);
  } catch (err) {
    if (isNotFound(err)) return { arns, keyId: "", notFound: err };
    throw err;
  }
  return { arns, keyId };
}

/** The key a CiphertextBlob names (the blob is parsed, not opened). */
export async function blobResource(ctx: ActionContext, blob: string): Promise<KeyResource> {
  const { keyId, keyVersionId } = ctx.keys.peekBlobKeyId(blob);
  const arns = [keyArn(ctx, keyId)];
  try {
    await ctx.keys.getKey(keyId);
  } catch (err) {
    if (isNotFound(err)) return { arns, keyId: "", notFound: err };
    throw err;
  }
  return { arns, keyId, keyVersionId };
}

export function ok(body: Record<string, unknown> = {}, keyId?: string, keyVersionId?: string): ActionResult {
  return {
    body,
    ...(keyId === undefined ? {} : { keyId }),
    ...(keyVersionId === undefined ? {} : { keyVersionId }),
  };
}

/** A list answer as Alibaba wraps it: `{Wrapper: {Item: [...]}, TotalCount, PageNumber, PageSize}`. */
export function pagedBody(
  wrapper: string,
  item: string,
  rows: readonly unknown[],
  total: number,
  page: { pageNumber: number; pageSize: number },
): Record<string, unknown> {
  return {
    [wrapper]: { [item]: rows },
    TotalCount: total,
    PageNumber: page.pageNumber,
    PageSize: page.pageSize,
  };
}

export type KeyChangeRequest = Exclude<KeyChange, { op: "CreateKeyVersion" }>;

const readOnlyFlag = (readOnly: true | undefined) => (readOnly === true ? { readOnly } : {});

/**
 * An action on one key named by a parameter (KeyId by default): the parameters are parsed first (bad
 * input fails before the key is looked up), then the key is resolved, then `run` gets both.
 */
export function keyAction<T = undefined>(def: {
  readonly readOnly?: true;
  readonly param?: string;
  readonly parse?: (p: Params) => T;
  readonly run: (input: T, keyId: string, ctx: ActionContext) => Promise<ActionResult>;
}): ActionSpec {
  return {
    ...readOnlyFlag(def.readOnly),
    async prepare(p, ctx) {
      const input = def.parse === undefined ? (undefined as T) : def.parse(p);
      const key = await keyResource(ctx, requireParam(p, def.param ?? "KeyId"));
      return { resources: [key], run: () => def.run(input, key.keyId, ctx) };
    },
  };
}

/** An action on an account-level resource (`key`, `alias`, `principal/<name>`, …) named from its input. */
export function accountAction<T = undefined>(def: {
  readonly readOnly?: true;
  readonly resource: (input: T) => string;
  readonly parse?: (p: Params) => T;
  readonly run: (input: T, ctx: ActionContext) => Promise<ActionResult>;
}): ActionSpec {
  return {
    ...readOnlyFlag(def.readOnly),
    prepare(p, ctx) {
      const input = def.parse === undefined ? (undefined as T) : def.parse(p);
      return Promise.resolve({
        resources: [{ arns: [accountArn(ctx, def.resource(input))] }],
        run: () => def.run(input, ctx),
      });
    },
  };
}

/** An action that is one planned change of a key (key-policy.ts) and answers nothing but its RequestId. */
export function keyChangeAction<T extends KeyChangeRequest>(parse: (p: Params) => T): ActionSpec {
  return keyAction({
    parse,
    run: (change, keyId, ctx) => changeKeyAndAnswer(ctx, keyId, change),
  });
}

/** Runs one planned key change; the result says whether a Force=true overrode a cluster's use of the key. */
export async function changeKeyAndAnswer(
  ctx: ActionContext,
  keyId: string,
  change: KeyChangeRequest,
): Promise<ActionResult> {
  const { overrode } = await ctx.keys.changeKey(keyId, change);
  return overrode.length > 0 ? { ...ok({}, keyId), forced: true } : ok({}, keyId);
}

/**
 * The atrest extension `Force=true`: overrides the refusal to take a key away from a cluster that
 * still needs it (Rejected.KeyInUse). The override is audited as forced.
 */
export function parseForce(p: Params): boolean {
  return parseBool(p, "Force", false);
}
