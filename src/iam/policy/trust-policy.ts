import { decodeJson } from "../../common/json-decode.js";
import { z } from "zod";
import { AtrestError } from "../../common/errors.js";
import { MAX_POLICY_DOCUMENT_CHARS } from "./policy-document.js";
import { wildcardMatch } from "./wildcard.js";

/**
 * A role's trust policy (RAM's AssumeRolePolicyDocument): who may assume the role.
 *
 *   {"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",
 *     "Principal":{"RAM":["acs:ram::<account>:root"]} | {"Service":["cs.aliyuncs.com"]},
 *     "Condition":{"StringEquals":{"sts:ExternalId":"…"}}}]}
 *
 * Principal.RAM names RAM identities (`acs:ram::<account>:root` = every RAM user and role of that
 * account, or one `…:user/<name>` / `…:role/<name>`); Principal.Service names a service. The only
 * condition evaluated is on `sts:ExternalId` (StringEquals / StringLike); any other condition key,
 * Principal.Federated and NotAction are rejected at creation, so nothing is silently ignored.
 */
export interface TrustStatement {
  readonly Effect: "Allow" | "Deny";
  readonly Action: readonly string[];
  readonly Principal: { readonly RAM: readonly string[]; readonly Service: readonly string[] };
  readonly ExternalId?: { readonly op: "StringEquals" | "StringLike"; readonly values: readonly string[] };
}

export interface TrustPolicy {
  readonly Version: "1";
  readonly Statement: readonly TrustStatement[];
}

/** Who is asking to assume a role. */
export type TrustCaller =
  | { readonly kind: "ram"; readonly accountId: string; readonly arn: string }
  | { readonly kind: "service"; readonly service: string };

const stringOrList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const conditionValues = z.record(z.string(), stringOrList);
const statementSchema = z.strictObject({
  Effect: z.enum(["Allow", "Deny"], { error: 'must be "Allow" or "Deny"' }),
  Action: stringOrList,
  Principal: z.strictObject({
    RAM: stringOrList.optional(),
    Service: stringOrList.optional(),
    Federated: z.never({ error: "Principal.Federated is not supported by atrest" }).optional(),
  }),
  Condition: z
    .strictObject({ StringEquals: conditionValues.optional(), StringLike: conditionValues.optional() })
    .optional(),
});
const documentSchema = z.strictObject({
  Version: z.literal("1", { error: 'must be "1"' }),
  Statement: z.array(statementSchema).min(1, "must contain at least one statement"),
});

const list = (v: string | readonly string[] | undefined): readonly string[] =>
  Object.freeze(v === undefined ? [] : typeof v === "string" ? [v] : [...v]);

function invalid(problems: string[]): AtrestError {
  return new AtrestError("invalid-argument", `AssumeRolePolicyDocument is invalid: ${problems.join("; ")}`, {
    details: { problems },
  });
}

/** Parses a trust policy's JSON text; every problem is reported with its path. */
export function parseTrustPolicy(json: string): TrustPolicy {
  if (json.length > MAX_POLICY_DOCUMENT_CHARS)
    throw invalid([`(document): longer than ${MAX_POLICY_DOCUMENT_CHARS} characters`]);
  let value: unknown;
  try {
    value = decodeJson(json);
  } catch (err) {
    throw new AtrestError("invalid-argument", "AssumeRolePolicyDocument is not valid JSON", { cause: err });
  }
  const parsed = documentSchema.safeParse(value);
  if (!parsed.success)
    throw invalid(
      parsed.error.issues.map((i) => `${i.path.map(String).join(".") || "(document)"}: ${i.message}`),
    );
  const problems: string[] = [];
  const statements = parsed.data.Statement.map((s, i): TrustStatement => {
    const actions = list(s.Action);
    for (const a of actions)
      if (!wildcardMatch(a, "sts:AssumeRole", { caseInsensitive: true }))
        problems.push(`Statement[${i}].Action: only sts:AssumeRole belongs in a trust policy (got ${a})`);
    const ram = list(s.Principal.RAM);
    const service = list(s.Principal.Service);
    if (ram.length + service.length === 0)
      problems.push(`Statement[${i}].Principal: names no RAM or Service principal`);
    for (const r of ram)
      if (!/^acs:ram::[0-9*]+:(root|user\/\S+|role\/\S+)$/.test(r) && !/^[0-9]{1,32}$/.test(r))
        problems.push(
          `Statement[${i}].Principal.RAM: ${r} is not acs:ram::<account>:root, …:user/<name> or …:role/<name>`,
        );
    let externalId: TrustStatement["ExternalId"];
    for (const op of ["StringEquals", "StringLike"] as const) {
      const cond = s.Condition?.[op];
      if (cond === undefined) continue;
      for (const [key, v] of Object.entries(cond)) {
        if (key.toLowerCase() !== "sts:externalid") {
          problems.push(`Statement[${i}].Condition.${op}: only sts:ExternalId is supported (got ${key})`);
          continue;
        }
        externalId = { op, values: list(v) };
      }
    }
    return Object.freeze({
      Effect: s.Effect,
      Action: actions,
      Principal: Object.freeze({ RAM: ram, Service: service }),
      ...(externalId === undefined ? {} : { ExternalId: Object.freeze(externalId) }),
    });
  });
  if (problems.length > 0) throw invalid(problems);
  return Object.freeze({ Version: "1" as const, Statement: Object.freeze(statements) });
}

function principalMatches(s: TrustStatement, caller: TrustCaller): boolean {
  if (caller.kind === "service")
    return s.Principal.Service.some((p) => p.toLowerCase() === caller.service.toLowerCase());
  return s.Principal.RAM.some((p) => {
    // A bare account id or `acs:ram::<account>:root` trusts every RAM identity of that account.
    if (p === caller.accountId || p === `acs:ram::${caller.accountId}:root`) return true;
    return wildcardMatch(p, caller.arn);
  });
}

function externalIdMatches(s: TrustStatement, externalId: string | undefined): boolean {
  if (s.ExternalId === undefined) return true;
  if (externalId === undefined) return false;
  return s.ExternalId.values.some((v) =>
    s.ExternalId?.op === "StringLike" ? wildcardMatch(v, externalId) : v === externalId,
  );
}

/** True when the trust policy lets `caller` assume the role: a matching Allow, and no matching Deny. */
export function trustAllows(
  policy: TrustPolicy,
  caller: TrustCaller,
  externalId: string | undefined,
): boolean {
  let allowed = false;
  for (const s of policy.Statement) {
    if (!principalMatches(s, caller)) continue;
    if (!s.Action.some((a) => wildcardMatch(a, "sts:AssumeRole", { caseInsensitive: true }))) continue;
    if (s.Effect === "Deny") return false; // a Deny on the principal wins, whatever its condition
    if (externalIdMatches(s, externalId)) allowed = true;
  }
  return allowed;
}
