/**
 * The shape of the EncryptionConfiguration file (zod), before kube-apiserver's semantic rules. Two variants
 * of the same schema: the strict one reports unknown fields (kube decodes strictly), the lenient one strips
 * them so the semantic rules can still run and every problem is reported at once.
 */
import { z } from "zod";
import { goQuote, invalidIssue, pathFromSegments, plainIssue, type ConfigIssue } from "./field-error.js";

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;

function makeSchema(strict: boolean) {
  const obj = <T extends z.core.$ZodLooseShape>(shape: T) =>
    strict ? z.strictObject(shape) : z.object(shape);
  // YAML `field:` with no value is null; Go decodes that to the zero value (a nil pointer/slice).
  const opt = <T extends z.ZodType>(t: T) => t.nullable().optional();

  const key = obj({ name: opt(z.string()), secret: opt(z.string()) });
  const keys = obj({ keys: opt(z.array(key)) });
  const kms = obj({
    apiVersion: opt(z.string()),
    name: opt(z.string()),
    endpoint: opt(z.string()),
    cachesize: opt(z.number().int().min(INT32_MIN).max(INT32_MAX)),
    timeout: opt(z.string()),
  });
  const provider = obj({
    aesgcm: opt(keys),
    aescbc: opt(keys),
    secretbox: opt(keys),
    identity: opt(obj({})),
    kms: opt(kms),
  });
  const resource = obj({ resources: opt(z.array(z.string())), providers: opt(z.array(provider)) });
  return obj({
    apiVersion: opt(z.string()),
    kind: opt(z.string()),
    resources: opt(z.array(resource)),
  });
}

const strictSchema = makeSchema(true);
const lenientSchema = makeSchema(false);

export type RawEncryptionConfiguration = z.infer<typeof lenientSchema>;
export type RawProvider = NonNullable<
  NonNullable<NonNullable<RawEncryptionConfiguration["resources"]>[number]["providers"]>[number]
>;
export type RawKeys = NonNullable<RawProvider["aesgcm"]>;
export type RawKms = NonNullable<RawProvider["kms"]>;

function describeType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function valueAt(root: unknown, segments: ReadonlyArray<PropertyKey>): unknown {
  let v = root;
  for (const s of segments) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[s];
  }
  return v;
}

function issueFromZod(issue: z.core.$ZodIssue, input: unknown): ConfigIssue[] {
  const path = pathFromSegments(issue.path);
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((k) => {
        const full = pathFromSegments([...issue.path, k]);
        // kube-apiserver's strict decoder: `strict decoding error: unknown field "resources[0].foo"`.
        return plainIssue(full, `strict decoding error: unknown field ${goQuote(full)}`);
      });
    case "invalid_type": {
      const got = describeType(valueAt(input, issue.path));
      const expected = issue.expected === "int" ? "integer" : issue.expected;
      // The value itself is not printed: it might be key material.
      return [invalidIssue(path, undefined, `expected ${expected}, got ${got}`)];
    }
    case "too_small":
    case "too_big":
      return [invalidIssue(path, undefined, "must be a 32-bit integer")];
    default:
      return [invalidIssue(path, undefined, issue.message)];
  }
}

export interface ShapeResult {
  /** The decoded file with unknown fields dropped, when its shape is otherwise right. */
  readonly value?: RawEncryptionConfiguration;
  readonly issues: readonly ConfigIssue[];
}

/** Checks the shape: every unknown field and every wrongly typed field, each with its path. */
export function decodeShape(input: unknown): ShapeResult {
  const strict = strictSchema.safeParse(input);
  if (strict.success) return { value: strict.data, issues: [] };
  const issues = strict.error.issues.flatMap((i) => issueFromZod(i, input));
  const lenient = lenientSchema.safeParse(input);
  return lenient.success ? { value: lenient.data, issues } : { issues };
}
