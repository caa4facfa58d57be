import type { Logger } from "../../common/logger.js";
import { isPlainObject, metaOf, type KubeObject } from "../../kube-object/types.js";
import type { Registry } from "../registry/index.js";
import { requireResource } from "../resources.js";
import { labelSelectorMatches } from "./label-selector.js";
import type { RbacCache } from "./rbac-cache.js";

/**
 * kube's ClusterRole aggregation controller (pkg/controller/clusterroleaggregation): a ClusterRole with an
 * aggregationRule gets the rules of every other ClusterRole its selectors match, in name order, without
 * repeats; it is rewritten only when that changes. Runs in the apiserver, after every ClusterRole change the
 * RBAC cache sees (so `admin`, `edit` and `view` follow the system:aggregate-to-* roles and any role
 * labelled to join them).
 */

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The rules an aggregated ClusterRole should hold, from the cluster roles there are. */
export function aggregatedRules(role: KubeObject, all: readonly KubeObject[]): unknown[] {
  const name = metaOf(role).name;
  const selectors =
    isPlainObject(role.aggregationRule) && Array.isArray(role.aggregationRule.clusterRoleSelectors)
      ? role.aggregationRule.clusterRoleSelectors
      : [];
  const sorted = [...all].sort((a, b) => ((metaOf(a).name ?? "") < (metaOf(b).name ?? "") ? -1 : 1));
  const rules: unknown[] = [];
  for (const selector of selectors) {
    for (const other of sorted) {
      if (metaOf(other).name === name) continue;
      const labels = metaOf(other).labels;
      if (!labelSelectorMatches(selector, isPlainObject(labels) ? labels : {})) continue;
      for (const r of Array.isArray(other.rules) ? other.rules : [])
        if (!rules.some((x) => sameJson(x, r))) rules.push(r);
    }
  }
  return rules;
}

export class AggregationController {
  private running: Promise<void> = Promise.resolve();
  private pending = false;
  private closed = false;

  constructor(
    private readonly registry: Registry,
    private readonly cache: RbacCache,
    private readonly logger: Logger,
  ) {}

  /** Syncs once now and after every ClusterRole change. */
  start(): Promise<void> {
    this.cache.onChange((obj) => {
      if (obj.kind === "ClusterRole") this.schedule();
    });
    this.schedule();
    return this.running;
  }

  /** Resolves when the syncs scheduled so far are done. */
  idle(): Promise<void> {
    return this.running;
  }

  close(): void {
    this.closed = true;
  }

  private schedule(): void {
    if (this.pending || this.closed) return;
    this.pending = true;
    this.running = this.running.then(async () => {
      this.pending = false;
      if (this.closed) return;
      try {
        await this.sync();
      } catch (err) {
        this.logger.warn(
          { err: err instanceof Error ? err.message : String(err) },
          "clusterrole aggregation failed",
        );
      }
    });
  }

  private async sync(): Promise<void> {
    const info = requireResource("clusterroles", "rbac.authorization.k8s.io");
    const all = this.cache.index.allClusterRoles().map((r) => r.object);
    for (const role of all) {
      if (!isPlainObject(role.aggregationRule)) continue;
      const rules = aggregatedRules(role, all);
      if (sameJson(rules, Array.isArray(role.rules) ? role.rules : [])) continue;
      const name = metaOf(role).name ?? "";
      await this.registry.patch(info, undefined, name, { dryRun: false }, (current) => {
        if (!isPlainObject(current.aggregationRule)) return current;
        return {
          ...current,
          rules: aggregatedRules(
            current,
            this.cache.index.allClusterRoles().map((r) => r.object),
          ),
        };
      });
    }
  }
}
