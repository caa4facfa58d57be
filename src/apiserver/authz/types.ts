import type { UserInfo } from "../authn.js";

/**
 * kube's authorizer interface (k8s.io/apiserver/pkg/authorization/authorizer): the attributes of a
 * request, a three-valued decision with its reason, and the rules a user holds (for the rules reviews and
 * the escalation checks).
 */

export interface Attributes {
  readonly user: UserInfo;
  readonly verb: string;
  readonly isResourceRequest: boolean;
  /** The request path (non-resource requests are authorized by it). */
  readonly path: string;
  readonly namespace: string;
  readonly resource: string;
  readonly subresource: string;
  readonly apiGroup: string;
  readonly apiVersion: string;
  readonly name: string;
}

export type DecisionKind = "Allow" | "Deny" | "NoOpinion";

export interface Decision {
  readonly decision: DecisionKind;
  /** Why (may be empty); a denial's reason follows kube's Forbidden message after ": ". */
  readonly reason: string;
  /** What went wrong while deciding (missing roles…); the decision may still stand. */
  readonly error?: string;
}

export interface Authorizer {
  authorize(attrs: Attributes): Decision;
}

/** A rule as the rules reviews report it (authorization.k8s.io ResourceRule / NonResourceRule). */
export interface ResourceRuleInfo {
  readonly verbs: readonly string[];
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly resourceNames: readonly string[];
}

export interface NonResourceRuleInfo {
  readonly verbs: readonly string[];
  readonly nonResourceURLs: readonly string[];
}

export interface RulesResult {
  readonly resourceRules: readonly ResourceRuleInfo[];
  readonly nonResourceRules: readonly NonResourceRuleInfo[];
  /** True when the authorizer cannot list everything it would allow (AlwaysDeny, webhooks). */
  readonly incomplete: boolean;
  readonly error?: string;
}

export interface RuleResolver {
  rulesFor(user: UserInfo, namespace: string): RulesResult;
}

export const allow = (reason = ""): Decision => ({ decision: "Allow", reason });
export const noOpinion = (reason = "", error?: string): Decision =>
  error === undefined ? { decision: "NoOpinion", reason } : { decision: "NoOpinion", reason, error };

/** kube's Forbidden message for a request (responsewriters.forbiddenMessage + apierrors.NewForbidden). */
export function forbiddenMessage(a: Attributes, reason: string): string {
  const who = `User ${JSON.stringify(a.user.name)}`;
  let msg: string;
  if (!a.isResourceRequest) {
    msg = `${who} cannot ${a.verb} path ${JSON.stringify(a.path)}`;
    msg = `forbidden: ${msg}`;
  } else {
    const resource = a.subresource === "" ? a.resource : `${a.resource}/${a.subresource}`;
    const scope =
      a.namespace === "" ? "at the cluster scope" : `in the namespace ${JSON.stringify(a.namespace)}`;
    const qualified = a.apiGroup === "" ? a.resource : `${a.resource}.${a.apiGroup}`;
    const subject = a.name === "" ? qualified : `${qualified} ${JSON.stringify(a.name)}`;
    msg = `${subject} is forbidden: ${who} cannot ${a.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(a.apiGroup)} ${scope}`;
  }
  return reason === "" ? msg : `${msg}: ${reason}`;
}
