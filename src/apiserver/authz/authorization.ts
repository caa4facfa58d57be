import type { Clock } from "../../common/clock.js";
import type { Logger } from "../../common/logger.js";
import { metaOf, type KubeObject } from "../../kube-object/types.js";
import type { UserInfo } from "../authn.js";
import type { Registry } from "../registry/index.js";
import type { ResourceInfo } from "../resources.js";
import { createAbacAuthorizer, type PolicySpec } from "./abac.js";
import { ACK_CLUSTER_ROLES } from "./ack-cluster-roles.js";
import { AggregationController } from "./aggregation-controller.js";
import { BOOTSTRAP_CLUSTER_ROLE_BINDINGS, BOOTSTRAP_CLUSTER_ROLES } from "./bootstrap-policy.js";
import { ensureClusterObjects } from "./bootstrap.js";
import { impersonatedUser, type DistinctHeaders } from "./impersonation.js";
import { authorizationFor, type AuthorizationMode } from "./modes.js";
import { createRbacAuthorizer } from "./rbac-authorizer.js";
import { RbacCache } from "./rbac-cache.js";
import { answerReview } from "./reviews.js";
import { RuleResolver } from "./rule-resolver.js";
import type { Authorizer, RuleResolver as RulesLister } from "./types.js";
import { rbacWriteCheck } from "./write-guard.js";

/**
 * Who may do what, at run time: the authorizer of the --authorization-mode list, the RBAC objects it
 * decides by (a cache that follows them), kube's bootstrap roles, the ClusterRole aggregation controller,
 * the access reviews, impersonation, and the escalation checks on RBAC writes.
 */

export interface AuthorizationOptions {
  readonly modes: readonly AuthorizationMode[];
  /** The ABAC policies, when the modes include ABAC. */
  readonly abacPolicies?: readonly PolicySpec[];
  /** Also create ACK's predefined ClusterRoles (cs:admin, cs:ops, cs:dev, cs:restricted). */
  readonly ackClusterRoles?: boolean;
  readonly registry: Registry;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** What an RBAC write does around the registry: the admission check, then waiting until it decides requests. */
export interface WriteGuard {
  readonly admit: (obj: KubeObject, old: KubeObject | undefined) => void;
  /** Resolves once the authorizer sees the written (or deleted) object, or after a few seconds. */
  readonly settle: (obj: KubeObject, deleted: boolean) => Promise<void>;
}

export class Authorization {
  readonly authorizer: Authorizer;
  readonly ruleResolver: RulesLister;
  readonly clock: Clock;
  private readonly resolver: RuleResolver;
  private readonly aggregation: AggregationController;

  private constructor(
    readonly cache: RbacCache,
    private readonly options: AuthorizationOptions,
  ) {
    this.resolver = new RuleResolver(cache.index);
    const { authorizer, ruleResolver } = authorizationFor(options.modes, {
      rbac: createRbacAuthorizer(this.resolver),
      ...(options.abacPolicies !== undefined ? { abac: createAbacAuthorizer(options.abacPolicies) } : {}),
    });
    this.authorizer = authorizer;
    this.ruleResolver = ruleResolver;
    this.clock = options.clock;
    this.aggregation = new AggregationController(options.registry, cache, options.logger);
  }

  /** Bootstraps the default roles, fills the cache, starts aggregating; resolves when requests may be decided. */
  static async start(options: AuthorizationOptions): Promise<Authorization> {
    await ensureClusterObjects(options.registry, [
      ...BOOTSTRAP_CLUSTER_ROLES,
      ...(options.ackClusterRoles === true ? ACK_CLUSTER_ROLES : []),
      ...BOOTSTRAP_CLUSTER_ROLE_BINDINGS,
    ]);
    const cache = new RbacCache(options.registry, options.clock, options.logger);
    await cache.start();
    const authorization = new Authorization(cache, options);
    await authorization.aggregation.start();
    return authorization;
  }

  /** The user a request acts as (impersonation headers checked against the requester's permissions). */
  actingUser(headers: DistinctHeaders, requester: UserInfo): UserInfo {
    return impersonatedUser(headers, requester, this.authorizer);
  }

  /** Answers a POST of an access review. */
  review(info: ResourceInfo, obj: KubeObject, user: UserInfo, namespace: string | undefined): KubeObject {
    return answerReview(this, info, obj, user, namespace);
  }

  /** The guard of a write to an RBAC resource by `user` (undefined for other resources). */
  writeGuard(
    info: ResourceInfo,
    user: UserInfo,
    namespace: string | undefined,
    urlName: string,
  ): WriteGuard | undefined {
    const admit = rbacWriteCheck(
      { authorizer: this.authorizer, resolver: this.resolver },
      info,
      user,
      info.namespaced ? (namespace ?? "") : "",
      urlName,
    );
    if (admit === undefined) return undefined;
    return {
      admit,
      settle: async (obj, deleted) => {
        const meta = metaOf(obj);
        const caughtUp = deleted
          ? await this.cache.waitForDeletion(info.kind, meta.namespace ?? "", meta.name ?? "")
          : await this.cache.waitForObject(
              info.kind,
              meta.namespace ?? "",
              meta.name ?? "",
              meta.resourceVersion ?? "0",
            );
        if (!caughtUp)
          this.options.logger.warn(
            { resource: info.resource, name: meta.name },
            "rbac cache has not seen a write yet",
          );
      },
    };
  }

  /** Resolves when the aggregation controller has caught up with the changes it has seen. */
  aggregated(): Promise<void> {
    return this.aggregation.idle();
  }

  async close(): Promise<void> {
    this.aggregation.close();
    await this.cache.close();
  }
}
