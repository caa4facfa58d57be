import { isAtrestError } from "../../common/errors.js";
import { isPlainObject, metaOf, type KubeObject } from "../../kube-object/types.js";
import type { Registry } from "../registry/index.js";
import { requireResource } from "../resources.js";
import { AUTOUPDATE_ANNOTATION } from "./bootstrap-policy.js";
import { covers } from "./escalation.js";
import { policyRuleJson, policyRulesOf } from "./rbac-rules.js";

/**
 * kube's RBAC bootstrap (the rbac/bootstrap-roles post-start hook): each default ClusterRole and binding
 * is created when missing; one that exists is reconciled as kube does — missing rules, subjects, labels,
 * annotations and aggregation selectors added, nothing removed — unless its
 * rbac.authorization.kubernetes.io/autoupdate annotation is "false".
 */

const GROUP = "rbac.authorization.k8s.io";
const W = { dryRun: false } as const;

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? (v as unknown[]) : []);

function mergeMap(expected: unknown, existing: unknown): Record<string, unknown> {
  return { ...(isPlainObject(expected) ? expected : {}), ...(isPlainObject(existing) ? existing : {}) };
}

/** The reconciled object, or undefined when the existing one needs nothing. */
export function reconcile(expected: KubeObject, existing: KubeObject): KubeObject | undefined {
  const oldMeta = metaOf(existing);
  if (isPlainObject(oldMeta.annotations) && oldMeta.annotations[AUTOUPDATE_ANNOTATION] === "false")
    return undefined;
  const next: KubeObject = structuredClone(existing);
  const meta = metaOf(next);
  const newMeta = metaOf(expected);
  meta.labels = mergeMap(newMeta.labels, oldMeta.labels) as Record<string, string>;
  meta.annotations = mergeMap(newMeta.annotations, oldMeta.annotations) as Record<string, string>;
  if (expected.kind === "ClusterRole") {
    const missing = covers(policyRulesOf(existing.rules), policyRulesOf(expected.rules));
    if (missing.length > 0) next.rules = [...list(existing.rules), ...missing.map(policyRuleJson)];
    if (isPlainObject(expected.aggregationRule)) {
      const want = list(expected.aggregationRule.clusterRoleSelectors);
      const have = isPlainObject(existing.aggregationRule)
        ? list(existing.aggregationRule.clusterRoleSelectors)
        : [];
      const add = want.filter((w) => !have.some((h) => sameJson(h, w)));
      if (add.length > 0 || !isPlainObject(existing.aggregationRule))
        next.aggregationRule = { clusterRoleSelectors: [...have, ...add] };
    }
  } else {
    const have = list(existing.subjects);
    const want = list(expected.subjects);
    const add = want.filter((w) => !have.some((h) => sameJson(h, w)));
    if (add.length > 0) next.subjects = [...have, ...add];
  }
  return sameJson(next, existing) ? undefined : next;
}

/** Creates or reconciles each object (ClusterRoles and ClusterRoleBindings), as the server itself. */
export async function ensureClusterObjects(
  registry: Registry,
  objects: readonly KubeObject[],
): Promise<void> {
  for (const expected of objects) {
    const info = requireResource(
      expected.kind === "ClusterRole" ? "clusterroles" : "clusterrolebindings",
      GROUP,
    );
    const name = metaOf(expected).name ?? "";
    try {
      await registry.create(info, undefined, structuredClone(expected), W);
      continue;
    } catch (err) {
      if (!isAtrestError(err, "already-exists")) throw err;
    }
    await registry.patch(info, undefined, name, W, (current) => reconcile(expected, current) ?? current);
  }
}
