import { ruleAllows } from "./rbac-rules.js";
import { aggregateErrors, describeSource, type RuleResolver, type RuleSource } from "./rule-resolver.js";
import {
  allow,
  noOpinion,
  type Authorizer,
  type NonResourceRuleInfo,
  type ResourceRuleInfo,
  type RuleResolver as RulesLister,
} from "./types.js";

/**
 * kube's RBAC authorizer (plugin/pkg/auth/authorizer/rbac): allowed when any rule of any role bound to
 * the user allows the request; otherwise no opinion, with the errors met (missing roles) as the reason.
 * RBAC never denies: the next authorizer in the mode list may still allow.
 */
export function createRbacAuthorizer(resolver: RuleResolver): Authorizer & RulesLister {
  // The reasons of the sources the resolver keeps (it hands out the same source objects until RBAC changes).
  const reasons = new WeakMap<RuleSource, string>();
  const reasonOf = (source: RuleSource): string => {
    let reason = reasons.get(source);
    if (reason === undefined) reasons.set(source, (reason = `RBAC: allowed by ${describeSource(source)}`));
    return reason;
  };
  return {
    authorize(attrs) {
      let reason: string | undefined;
      const errors: string[] = [];
      resolver.visitRulesFor(attrs.user, attrs.namespace, (source, rule, err) => {
        if (rule !== undefined && source !== undefined && ruleAllows(attrs, rule)) {
          reason = reasonOf(source);
          return false;
        }
        if (err !== undefined) errors.push(err);
        return true;
      });
      if (reason !== undefined) return allow(reason);
      return noOpinion(errors.length > 0 ? `RBAC: ${aggregateErrors(errors)}` : "");
    },
    rulesFor(user, namespace) {
      const { rules, errors } = resolver.rulesFor(user, namespace);
      const resourceRules: ResourceRuleInfo[] = [];
      const nonResourceRules: NonResourceRuleInfo[] = [];
      for (const r of rules) {
        if (r.resources.length > 0)
          resourceRules.push({
            verbs: r.verbs,
            apiGroups: r.apiGroups,
            resources: r.resources,
            resourceNames: r.resourceNames,
          });
        if (r.nonResourceURLs.length > 0)
          nonResourceRules.push({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs });
      }
      // kube's RBAC rules are never incomplete; what failed is the evaluation error.
      return errors.length > 0
        ? { resourceRules, nonResourceRules, incomplete: false, error: aggregateErrors(errors) }
        : { resourceRules, nonResourceRules, incomplete: false };
    },
  };
}
