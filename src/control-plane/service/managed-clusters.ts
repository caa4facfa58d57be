import { AtrestError } from "../../common/errors.js";
import { csError } from "../cs/cs-error.js";
import type { ClusterRow } from "../store/cluster-store.js";
import { allow, allowedCluster } from "./authorize.js";
import { errorText, reasonOf, recordClusterEvent, type ServiceContext } from "./context.js";
import { assertServiceRole, KEY_ID_PATTERN } from "./kms-encryption.js";
import type { Caller, ClusterView } from "./types.js";
import { clusterView } from "./views.js";

/**
 * CreateCluster (ACK's "Create Kubernetes Cluster"): a managed atrest apiserver and, with
 * `encryption_provider_key`, a plugin on that key as the service role, so the cluster's Secrets are
 * encrypted from the first write. The caller becomes its administrator.
 */
export interface CreateClusterRequest {
  readonly name: string;
  readonly regionId?: string;
  readonly kmsKeyId?: string;
  /** Store the cluster in the caller's etcd instead of embedded SQLite in its folder. */
  readonly etcd?: { readonly endpoints: readonly string[]; readonly prefix?: string };
}

export async function createManagedCluster(
  ctx: ServiceContext,
  caller: Caller,
  req: CreateClusterRequest,
): Promise<ClusterView> {
  const regionId = req.regionId ?? ctx.regionId;
  await allow(ctx, caller, "CreateCluster", `acs:cs:${regionId}:${ctx.accountId}:cluster/*`);
  const managed = ctx.managed;
  if (managed === undefined)
    throw csError("ErrorCheckAcl", "this control plane does not run managed clusters; register one");
  if (regionId !== ctx.regionId)
    throw csError("ErrorRegionMismatch", `region_id: clusters are created in ${ctx.regionId}`);
  if (!/^[\p{L}\p{N}][\p{L}\p{N}_-]{0,62}$/u.test(req.name))
    throw csError(
      "InvalidParameter",
      "name: 1-63 letters, digits, '_' and '-', starting with a letter or digit",
    );
  if ((await ctx.store.getClusterByName(req.name)) !== undefined)
    throw csError("ErrorClusterAlreadyExists", `a cluster named ${req.name} exists already`);
  const keyId = (req.kmsKeyId ?? "").trim();
  if (keyId !== "") {
    if (!KEY_ID_PATTERN.test(keyId))
      throw csError("InvalidParameter", "encryption_provider_key: a KMS key id or alias");
    await assertServiceRole(ctx);
  }
  const clusterId = `c${ctx.random.bytes(16).toString("hex")}`;
  const info = await managed
    .create({
      clusterId,
      name: req.name,
      ...(keyId === "" ? {} : { kmsKeyId: keyId }),
      ...(req.etcd === undefined ? {} : { etcd: req.etcd }),
    })
    .catch((err: unknown) => {
      const reason = err instanceof AtrestError ? reasonOf(err, "") : "";
      const code =
        reason === "InvalidEtcd"
          ? "InvalidParameter"
          : /key/i.test(reason)
            ? "ErrorKMSKeyInvalid"
            : "ErrorCheckAcl";
      throw csError(code, errorText(err), {
        cause: err,
      });
    });
  const now = ctx.clock.now();
  const row: ClusterRow = {
    cluster_id: clusterId,
    name: req.name,
    region_id: regionId,
    cluster_file: info.clusterFile,
    state: "running",
    kms_key_id: info.plugins[0]?.keyId ?? "",
    disable_encryption: info.plugins.length === 0 ? 1 : 0,
    current_task_id: null,
    failure_reason: "",
    last_change_at: 0,
    created_by: caller.identity.userName,
    created_at: now,
    updated_at: now,
  };
  try {
    await ctx.store.insertCluster(row);
  } catch (err) {
    await managed.delete(clusterId).catch(() => undefined);
    throw csError("ErrorClusterAlreadyExists", `a cluster named ${req.name} exists already`, { cause: err });
  }
  await ctx.store.grantRole(clusterId, caller.identity.principal, "admin", "creation", now);
  await recordClusterEvent(ctx, clusterId, "", {
    type: "cluster_create",
    reason: "CreateCluster",
    message: `${caller.identity.userName} created ${req.name} (${row.kms_key_id === "" ? "Secret encryption off" : `Secrets encrypted with ${row.kms_key_id} from the first write`})`,
    source: caller.identity.userName,
  });
  return clusterView(row, ctx.cooldownMs, ctx.clock.now());
}

/**
 * DeleteCluster: a managed cluster is stopped, its data removed and its keys released; a registered
 * one is only forgotten (its apiservers are not ours). Refused while a change runs.
 */
export async function deleteCluster(ctx: ServiceContext, caller: Caller, clusterId: string): Promise<void> {
  const row = await allowedCluster(ctx, caller, "DeleteCluster", clusterId);
  if (row.state === "updating")
    throw csError(
      "ErrorClusterStateConflict",
      `cluster ${clusterId} is updating; delete it when it is running`,
    );
  const managed = ctx.managed;
  const released =
    managed?.info(clusterId) === undefined ? [] : (await managed.delete(clusterId)).keysReleased;
  await ctx.store.deleteCluster(clusterId);
  await ctx.tags.deleteTags(clusterId);
  await ctx.watch.deleteHealth(clusterId);
  await recordClusterEvent(ctx, clusterId, "", {
    type: "cluster_delete",
    reason: "DeleteCluster",
    message: `${caller.identity.userName} deleted ${row.name}${released.length === 0 ? "" : ` (KMS keys released: ${released.join(", ")})`}`,
    source: caller.identity.userName,
  });
}
