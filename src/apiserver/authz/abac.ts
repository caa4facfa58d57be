import { AtrestError } from "../../common/errors.js";
import type { UserInfo } from "../authn.js";
import { isPlainObject } from "../../kube-object/types.js";
import { allow, noOpinion, type Attributes, type Authorizer, type RuleResolver } from "./types.js";

/**
 * kube's ABAC authorizer: one policy per line of JSON (`abac.authorization.kubernetes.io/v1beta1`
 * Policy, or the legacy unversioned form); a request is allowed when any policy matches.
 */

export interface PolicySpec {
  readonly user: string;
  readonly group: string;
  readonly readonly: boolean;
  readonly apiGroup: string;
  readonly resource: string;
  readonly namespace: string;
  readonly nonResourcePath: string;
}

const SPEC_FIELDS = new Set([
  "user",
  "group",
  "readonly",
  "apiGroup",
  "resource",
  "namespace",
  "nonResourcePath",
]);

function str(v: unknown, line: number, field: string): string {
  if (v === undefined) return "";
  if (typeof v !== "string")
    throw new AtrestError("invalid-argument", `authorization policy line ${line}: ${field} must be a string`);
  return v;
}

export function parsePolicyFile(text: string): PolicySpec[] {
  const policies: PolicySpec[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    const n = i + 1;
    if (line === "" || line.startsWith("#")) return;
    let doc: unknown;
    try {
      doc = JSON.parse(line);
    } catch {
      throw new AtrestError("invalid-argument", `authorization policy line ${n}: not valid JSON`);
    }
    if (!isPlainObject(doc))
      throw new AtrestError("invalid-argument", `authorization policy line ${n}: must be a JSON object`);
    let spec: Record<string, unknown>;
    if (doc.apiVersion === undefined) {
      spec = doc; // legacy v0 policy: the fields are at the top level
    } else {
      if (doc.apiVersion !== "abac.authorization.kubernetes.io/v1beta1" || doc.kind !== "Policy") {
        throw new AtrestError(
          "invalid-argument",
          `authorization policy line ${n}: apiVersion must be abac.authorization.kubernetes.io/v1beta1 and kind Policy`,
        );
      }
      if (!isPlainObject(doc.spec))
        throw new AtrestError("invalid-argument", `authorization policy line ${n}: spec is required`);
      spec = doc.spec;
    }
    for (const k of Object.keys(spec)) {
      if (!SPEC_FIELDS.has(k))
        throw new AtrestError("invalid-argument", `authorization policy line ${n}: unknown field "${k}"`);
    }
    if (spec.readonly !== undefined && typeof spec.readonly !== "boolean")
      throw new AtrestError("invalid-argument", `authorization policy line ${n}: readonly must be a boolean`);
    const policy: PolicySpec = {
      user: str(spec.user, n, "user"),
      group: str(spec.group, n, "group"),
      readonly: spec.readonly === true,
      apiGroup: str(spec.apiGroup, n, "apiGroup"),
      resource: str(spec.resource, n, "resource"),
      namespace: str(spec.namespace, n, "namespace"),
      nonResourcePath: str(spec.nonResourcePath, n, "nonResourcePath"),
    };
    policies.push(doc.apiVersion === undefined ? fromV0(policy) : policy);
  });
  return policies;
}

/** kube's conversion of an unversioned (v0) policy: empty fields are wildcards. */
function fromV0(p: PolicySpec): PolicySpec {
  const allAuthenticated = p.user === "" && p.group === "" ? true : p.user === "*" || p.group === "*";
  return {
    user: allAuthenticated ? "" : p.user,
    group: allAuthenticated ? "system:authenticated" : p.group,
    readonly: p.readonly,
    apiGroup: "*",
    resource: p.resource === "" ? "*" : p.resource,
    namespace: p.namespace === "" ? "*" : p.namespace,
    nonResourcePath: p.namespace === "" && p.resource === "" ? "*" : p.nonResourcePath,
  };
}

const READONLY_VERBS = new Set(["get", "list", "watch"]);

function subjectMatches(p: PolicySpec, user: UserInfo): boolean {
  let matched = false;
  if (p.user !== "") {
    if (p.user === "*") matched = true;
    else {
      matched = p.user === user.name;
      if (!matched) return false;
    }
  }
  if (p.group !== "") {
    if (p.group === "*") matched = true;
    else {
      matched = user.groups.includes(p.group);
      if (!matched) return false;
    }
  }
  return matched;
}

function policyMatches(p: PolicySpec, a: Attributes): boolean {
  if (!subjectMatches(p, a.user)) return false;
  if (p.readonly && !READONLY_VERBS.has(a.verb)) return false;
  if (a.isResourceRequest) {
    return (
      (p.namespace === "*" || p.namespace === a.namespace) &&
      (p.resource === "*" || p.resource === a.resource) &&
      (p.apiGroup === "*" || p.apiGroup === a.apiGroup)
    );
  }
  if (p.nonResourcePath === "*" || p.nonResourcePath === a.path) return true;
  return p.nonResourcePath.endsWith("*") && a.path.startsWith(p.nonResourcePath.slice(0, -1));
}

export function createAbacAuthorizer(policies: readonly PolicySpec[]): Authorizer & RuleResolver {
  return {
    authorize(attrs) {
      return policies.some((p) => policyMatches(p, attrs)) ? allow() : noOpinion("No policy matched.");
    },
    // kube's PolicyList.RulesFor: what the user's policies allow in the namespace.
    rulesFor(user, namespace) {
      const verbs = (readonly: boolean): string[] => (readonly ? ["get", "list", "watch"] : ["*"]);
      const resourceRules = [];
      const nonResourceRules = [];
      for (const p of policies) {
        if (!subjectMatches(p, user) || (p.namespace !== "*" && p.namespace !== namespace)) continue;
        if (p.resource !== "")
          resourceRules.push({
            verbs: verbs(p.readonly),
            apiGroups: [p.apiGroup],
            resources: [p.resource],
            resourceNames: [],
          });
        if (p.nonResourcePath !== "")
          nonResourceRules.push({ verbs: verbs(p.readonly), nonResourceURLs: [p.nonResourcePath] });
      }
      return { resourceRules, nonResourceRules, incomplete: false };
    },
  };
}
