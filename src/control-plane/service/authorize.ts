import { AtrestError } from "../../common/errors.js";
import { csError } from "../cs/cs-error.js";
import type { ClusterRow } from "../store/cluster-store.js";
import { clusterArn, csAction } from "./arn.js";
import { recordCsCall } from "./audit.js";
import { errorText, type ServiceContext } from "./context.js";
import { CLUSTER_ROLES, type Caller, type ClusterRole } from "./types.js";

/**
 * Authorization and audit, the same for every door (cs API, console, CLI): the RAM policy of the
 * action on the cluster's ARN (explicit Deny wins), the cluster role where ACK requires one, and every
 * call — allowed or refused — one ActionTrail event.
 */

const READ_ACTIONS = new Set([
  "DescribeClustersV1",
  "DescribeClusterDetail",
  "DescribeClusterEvents",
  "DescribeTaskInfo",
  "DescribeUserPermission",
]);

export function arnOf(ctx: ServiceContext, regionId: string, clusterId: string): string {
  return clusterArn(regionId, ctx.accountId, clusterId);
}

/** Runs `fn` and records the call (its error code and message when it throws) as a cs event. */
export async function audited<T>(
  ctx: ServiceContext,
  caller: Caller,
  action: string,
  resource: { regionId: string; clusterId?: string },
  params: Record<string, unknown>,
  fn: () => Promise<T>,
): Promise<T> {
  const base = {
    eventName: action,
    readOnly: READ_ACTIONS.has(action),
    regionId: resource.regionId,
    accountId: ctx.accountId,
    ...(resource.clusterId === undefined ? {} : { resourceName: resource.clusterId }),
    requestParameters: params,
  };
  try {
    const out = await fn();
    await recordCsCall(ctx.idb, caller, base, ctx.clock.now());
    return out;
  } catch (err) {
    const code =
      err instanceof AtrestError && typeof err.details["acsCode"] === "string"
        ? err.details["acsCode"]
        : "InternalError";
    await recordCsCall(
      ctx.idb,
      caller,
      { ...base, errorCode: code, errorMessage: errorText(err) },
      ctx.clock.now(),
    ).catch((recordErr: unknown) => ctx.logger.error({ err: errorText(recordErr) }, "cs event not recorded"));
    throw err;
  }
}

/** RAM: the caller's policies must allow the action on the resource, and none may deny it. */
export async function allow(
  ctx: ServiceContext,
  caller: Caller,
  action: string,
  resource: string,
): Promise<void> {
  const decision = await ctx.identity.decide(caller.identity, csAction(action), resource);
  if (decision === "allow") return;
  throw csError(
    "StatusForbidden",
    decision === "deny"
      ? `${caller.identity.userName} is explicitly denied ${csAction(action)} on ${resource} by a RAM policy`
      : `${caller.identity.userName} is not authorized to perform ${csAction(action)} on ${resource}: attach a RAM policy that allows it (e.g. AliyunCSFullAccess)`,
    { details: { decision } },
  );
}

/** The caller's role on the cluster (stored by the control plane), or undefined. */
export async function roleOf(
  ctx: ServiceContext,
  caller: Caller,
  clusterId: string,
): Promise<ClusterRole | undefined> {
  const r = await ctx.store.roleOf(clusterId, caller.identity.principal);
  return (CLUSTER_ROLES as readonly string[]).includes(r ?? "") ? (r as ClusterRole) : undefined;
}

export async function requireCluster(ctx: ServiceContext, clusterId: string): Promise<ClusterRow> {
  const row = await ctx.store.getCluster(clusterId);
  if (row === undefined) throw csError("ErrorClusterNotFound", `cluster ${clusterId} not found`);
  return row;
}

/** RAM on the cluster's ARN first (a refused caller learns nothing of it), then the cluster. */
export async function allowedCluster(
  ctx: ServiceContext,
  caller: Caller,
  action: string,
  clusterId: string,
): Promise<ClusterRow> {
  const row = await ctx.store.getCluster(clusterId);
  await allow(ctx, caller, action, arnOf(ctx, row?.region_id ?? ctx.regionId, clusterId));
  if (row === undefined) throw csError("ErrorClusterNotFound", `cluster ${clusterId} not found`);
  return row;
}
