import { AtrestError } from "../../common/errors.js";
import {
  allow,
  noOpinion,
  type Authorizer,
  type NonResourceRuleInfo,
  type ResourceRuleInfo,
  type RuleResolver,
  type RulesResult,
} from "./types.js";
import { SYSTEM_PRIVILEGED_GROUP } from "./service-accounts.js";
import { aggregateErrors } from "./rule-resolver.js";

/**
 * kube's --authorization-mode: a comma-separated list of authorizers tried in order, the first that
 * allows or denies deciding; members of system:masters are allowed before any of them (kube's privileged
 * group authorizer). The rules reviews ask every mode that can list rules.
 */

export const AUTHORIZATION_MODES = ["AlwaysAllow", "AlwaysDeny", "ABAC", "RBAC"] as const;
export type AuthorizationMode = (typeof AUTHORIZATION_MODES)[number];
/** kube modes atrest does not implement. */
const UNSUPPORTED_MODES = new Set(["Webhook", "Node"]);

/** kube's validation of --authorization-mode and --authorization-policy-file, with its messages. */
export function parseAuthorizationModes(
  value: string | readonly string[],
  policyFile: string | undefined,
): AuthorizationMode[] {
  const modes = typeof value === "string" ? value.split(",").map((m) => m.trim()) : [...value];
  const problems: string[] = [];
  if (modes.length === 0 || (modes.length === 1 && modes[0] === ""))
    problems.push("at least one authorization-mode must be passed");
  for (const mode of modes) {
    if (UNSUPPORTED_MODES.has(mode))
      problems.push(`authorization-mode ${JSON.stringify(mode)} is not supported by atrest`);
    else if (mode !== "" && !(AUTHORIZATION_MODES as readonly string[]).includes(mode))
      problems.push(`authorization-mode ${JSON.stringify(mode)} is not a valid mode`);
    if (mode === "ABAC" && (policyFile === undefined || policyFile === ""))
      problems.push("authorization-mode ABAC's authorization policy file not passed");
  }
  if (policyFile !== undefined && policyFile !== "" && !modes.includes("ABAC"))
    problems.push("cannot specify --authorization-policy-file without mode ABAC");
  if (new Set(modes).size !== modes.length)
    problems.push(`authorization-mode ${JSON.stringify(modes.join(","))} has mode specified more than once`);
  if (problems.length > 0) throw new AtrestError("invalid-argument", problems.join("; "));
  return modes as AuthorizationMode[];
}

export const alwaysAllow: Authorizer & RuleResolver = {
  authorize: () => allow(),
  rulesFor: () => ({
    resourceRules: [{ verbs: ["*"], apiGroups: ["*"], resources: ["*"], resourceNames: [] }],
    nonResourceRules: [{ verbs: ["*"], nonResourceURLs: ["*"] }],
    incomplete: false,
  }),
};

export const alwaysDeny: Authorizer & RuleResolver = {
  authorize: () => noOpinion("Everything is forbidden."),
  rulesFor: () => ({ resourceRules: [], nonResourceRules: [], incomplete: true }),
};

/** kube's privileged group authorizer: members of these groups are allowed everything. */
export function privilegedGroups(...groups: string[]): Authorizer {
  return {
    authorize: (attrs) => (attrs.user.groups.some((g) => groups.includes(g)) ? allow() : noOpinion()),
  };
}

/** kube's union authorizer: the first Allow or Deny decides; otherwise no opinion, every reason kept. */
export function unionAuthorizer(authorizers: readonly Authorizer[]): Authorizer {
  return {
    authorize(attrs) {
      const reasons: string[] = [];
      const errors: string[] = [];
      for (const a of authorizers) {
        const d = a.authorize(attrs);
        if (d.error !== undefined) errors.push(d.error);
        if (d.decision !== "NoOpinion") return d;
        if (d.reason !== "") reasons.push(d.reason);
      }
      return noOpinion(reasons.join("\n"), errors.length > 0 ? aggregateErrors(errors) : undefined);
    },
  };
}

/** kube's union rule resolver: every mode's rules, incomplete when any is. */
export function unionRuleResolver(resolvers: readonly RuleResolver[]): RuleResolver {
  return {
    rulesFor(user, namespace) {
      const resourceRules: ResourceRuleInfo[] = [];
      const nonResourceRules: NonResourceRuleInfo[] = [];
      const errors: string[] = [];
      let incomplete = false;
      for (const r of resolvers) {
        const out = r.rulesFor(user, namespace);
        resourceRules.push(...out.resourceRules);
        nonResourceRules.push(...out.nonResourceRules);
        incomplete ||= out.incomplete;
        if (out.error !== undefined) errors.push(out.error);
      }
      const result: RulesResult = { resourceRules, nonResourceRules, incomplete };
      return errors.length > 0 ? { ...result, error: aggregateErrors(errors) } : result;
    },
  };
}

export interface ModeAuthorizers {
  readonly abac?: Authorizer & RuleResolver;
  readonly rbac: Authorizer & RuleResolver;
}

/** The server's authorizer and rule resolver for the modes, in kube's order (privileged group first). */
export function authorizationFor(
  modes: readonly AuthorizationMode[],
  parts: ModeAuthorizers,
): { authorizer: Authorizer; ruleResolver: RuleResolver } {
  const chain = modes.map((mode): Authorizer & RuleResolver => {
    switch (mode) {
      case "AlwaysAllow":
        return alwaysAllow;
      case "AlwaysDeny":
        return alwaysDeny;
      case "RBAC":
        return parts.rbac;
      case "ABAC":
        if (parts.abac === undefined)
          throw new AtrestError(
            "invalid-argument",
            "authorization-mode ABAC's authorization policy file not passed",
          );
        return parts.abac;
    }
  });
  return {
    authorizer: unionAuthorizer([privilegedGroups(SYSTEM_PRIVILEGED_GROUP), ...chain]),
    ruleResolver: unionRuleResolver(chain),
  };
}
