import { loadClusterFile, type ClusterSpec } from "../../operations/index.js";
import { csError } from "../cs/cs-error.js";
import type { ClusterRow } from "../store/cluster-store.js";
import { allow } from "./authorize.js";
import { errorText, recordClusterEvent, type ServiceContext } from "./context.js";
import type { ClusterEngine } from "./engine-port.js";
import type { Caller, ClusterView } from "./types.js";
import { clusterView } from "./views.js";

/**
 * Registering an existing cluster from its cluster file (ACK's "register an external cluster"): its
 * current Secret encryption read from the engine, the caller made its administrator.
 */
export async function registerClusterFile(
  ctx: ServiceContext,
  caller: Caller,
  clusterFile: string,
): Promise<ClusterView> {
  let spec: ClusterSpec;
  try {
    spec = loadClusterFile(clusterFile);
  } catch (err) {
    throw csError("InvalidParameter", errorText(err), { cause: err });
  }
  await allow(ctx, caller, "CreateCluster", `acs:cs:${spec.region}:${ctx.accountId}:cluster/*`);
  if ((await ctx.store.getClusterByName(spec.name)) !== undefined)
    throw csError("ErrorClusterAlreadyExists", `a cluster named ${spec.name} is registered already`);
  const encryption = await currentEncryption(ctx, spec);
  const now = ctx.clock.now();
  const row: ClusterRow = {
    cluster_id: `c${ctx.random.bytes(16).toString("hex")}`,
    name: spec.name,
    region_id: spec.region,
    cluster_file: spec.source,
    state: "running",
    kms_key_id: encryption.kmsKeyId,
    disable_encryption: encryption.kmsKeyId === "" ? 1 : 0,
    current_task_id: null,
    failure_reason: "",
    last_change_at: 0,
    created_by: caller.identity.userName,
    created_at: now,
    updated_at: now,
  };
  await ctx.store.insertCluster(row).catch((err: unknown) => {
    throw csError("ErrorClusterAlreadyExists", `a cluster named ${spec.name} is registered already`, {
      cause: err,
    });
  });
  await ctx.store.grantRole(row.cluster_id, caller.identity.principal, "admin", "registration", now);
  await recordClusterEvent(ctx, row.cluster_id, "", {
    type: "cluster_create",
    reason: "RegisterCluster",
    message: `${caller.identity.userName} registered ${spec.name} (${encryption.kmsKeyId === "" ? "Secret encryption off" : `Secrets encrypted with ${encryption.kmsKeyId}`})`,
    source: caller.identity.userName,
  });
  return clusterView(row, ctx.cooldownMs, ctx.clock.now());
}

/** The KMS key the cluster's Secrets are written with now ("" when none), from the engine's status. */
async function currentEncryption(ctx: ServiceContext, spec: ClusterSpec): Promise<{ kmsKeyId: string }> {
  let engine: ClusterEngine | undefined;
  try {
    engine = ctx.engines(spec, { progress: () => undefined, owner: ctx.instanceId });
    const status = await engine.ops.status();
    const secrets = status.resources["secrets"] ?? Object.values(status.resources)[0];
    const kms = secrets !== undefined && secrets.writer.startsWith("kms");
    return { kmsKeyId: kms ? (status.key?.id ?? secrets.keyId ?? "") : "" };
  } catch (err) {
    throw csError("ErrorCheckAcl", `cannot read the encryption state of ${spec.name}: ${errorText(err)}`, {
      cause: err,
    });
  } finally {
    engine?.close();
  }
}
