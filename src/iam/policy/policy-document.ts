import { decodeJson } from "../../common/json-decode.js";
import { z } from "zod";
import { AtrestError } from "../../common/errors.js";

/**
 * An access policy in Alibaba Cloud RAM's grammar, restricted to what atrest kms evaluates:
 *
 *   {"Version":"1","Statement":[{"Effect":"Allow"|"Deny","Action":"kms:Encrypt"|[…],"Resource":"acs:kms:…"|[…]}]}
 *
 * `Condition`, `NotAction`, `NotResource` and `Principal` are rejected rather than ignored: ignoring a
 * Condition on an Allow would grant more than its author meant, so the policy fails closed at creation.
 */
export type PolicyEffect = "Allow" | "Deny";

export interface PolicyStatement {
  readonly Effect: PolicyEffect;
  /** Action patterns (`kms:Encrypt`, `kms:List*`, `*`); matched case-insensitively. */
  readonly Action: readonly string[];
  /** Resource patterns (`acs:kms:*:*:key/key-123`, `*`); matched case-sensitively. */
  readonly Resource: readonly string[];
}

export interface PolicyDocument {
  readonly Version: "1";
  readonly Statement: readonly PolicyStatement[];
}

/** RAM's limit on a custom policy document (characters, whitespace included). */
export const MAX_POLICY_DOCUMENT_CHARS = 6144;

const ACTION_PATTERN = /^(\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+)$/;
// A resource is `*` or an ARN `acs:<service>:<region>:<account>:<relative id>`; wildcards allowed anywhere.
const RESOURCE_PATTERN = /^(\*|acs:[^:\s]*:[^:\s]*:[^:\s]*:\S*)$/;

const action = z
  .string()
  .regex(ACTION_PATTERN, "must be '*' or '<service>:<Action>' (wildcards * and ? allowed)");
const resource = z
  .string()
  .regex(RESOURCE_PATTERN, "must be '*' or an ARN like acs:kms:<region>:<account>:key/<id>");

function oneOrMany<T extends z.ZodType>(item: T) {
  return z.union([item, z.array(item).min(1, "must not be empty")]);
}

const unsupported = (name: string, why: string) =>
  z.never({ error: `${name} is not supported by atrest kms (${why}); remove it` }).optional();

const statementSchema = z.strictObject({
  Effect: z.enum(["Allow", "Deny"], { error: 'must be "Allow" or "Deny"' }),
  Action: oneOrMany(action),
  Resource: oneOrMany(resource),
  Condition: unsupported("Condition", "a policy with conditions would be evaluated without them"),
  NotAction: unsupported("NotAction", "use Action"),
  NotResource: unsupported("NotResource", "use Resource"),
  Principal: unsupported("Principal", "attach the policy to a principal instead"),
});

const documentSchema = z.strictObject({
  Version: z.literal("1", { error: 'must be "1"' }),
  Statement: z.array(statementSchema).min(1, "must contain at least one statement"),
});

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out === "" ? "(document)" : out;
}

const asList = (v: string | readonly string[]): readonly string[] =>
  Object.freeze(typeof v === "string" ? [v] : [...v]);

/** Validates an already-parsed JSON value into a frozen PolicyDocument (every problem with its path). */
export function validatePolicyDocument(value: unknown): PolicyDocument {
  const result = documentSchema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
    throw new AtrestError("invalid-argument", `PolicyDocument is invalid: ${problems.join("; ")}`, {
      details: { problems },
    });
  }
  return Object.freeze({
    Version: "1" as const,
    Statement: Object.freeze(
      result.data.Statement.map((s) =>
        Object.freeze({ Effect: s.Effect, Action: asList(s.Action), Resource: asList(s.Resource) }),
      ),
    ),
  });
}

/** Parses the JSON text of a policy document. Throws AtrestError "invalid-argument" listing every problem. */
export function parsePolicyDocument(json: string): PolicyDocument {
  if (json.length > MAX_POLICY_DOCUMENT_CHARS) {
    throw new AtrestError(
      "invalid-argument",
      `PolicyDocument is longer than ${MAX_POLICY_DOCUMENT_CHARS} characters`,
      {
        details: { problems: [`(document): longer than ${MAX_POLICY_DOCUMENT_CHARS} characters`] },
      },
    );
  }
  let value: unknown;
  try {
    value = decodeJson(json);
  } catch (err) {
    throw new AtrestError("invalid-argument", "PolicyDocument is not valid JSON", {
      cause: err,
      details: { problems: ["(document): not valid JSON"] },
    });
  }
  return validatePolicyDocument(value);
}
