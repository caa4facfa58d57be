import type { ControlPlaneDb } from "./migrations.js";

/** EKS's ClusterIssue, as the last key health round found it. */
export interface StoredIssue {
  readonly code: string;
  readonly message: string;
  readonly resourceIds: readonly string[];
}

export interface StoredHealth {
  readonly kmsKeyId: string;
  readonly issues: readonly StoredIssue[];
  /** Enabled, Disabled, PendingDeletion; "" when DescribeKey did not answer. */
  readonly keyState: string;
  readonly checkedAt: number;
}

/**
 * What the cluster watch keeps in the shared database: each cluster's last key health (so every
 * instance describes it, not only the one that checked), and the watch's lease — the task lease's
 * compare-and-swap on a named row, so of two instances on one database only the holder acts.
 */
export class WatchStore {
  constructor(private readonly cdb: ControlPlaneDb) {}

  async healthOf(clusterId: string): Promise<StoredHealth | undefined> {
    const r = await this.cdb.db
      .selectFrom("cp_cluster_health")
      .selectAll()
      .where("cluster_id", "=", clusterId)
      .executeTakeFirst();
    if (r === undefined) return undefined;
    return {
      kmsKeyId: r.kms_key_id,
      issues: JSON.parse(r.issues) as StoredIssue[],
      keyState: r.key_state,
      checkedAt: Number(r.checked_at),
    };
  }

  async putHealth(clusterId: string, h: StoredHealth): Promise<void> {
    const row = {
      kms_key_id: h.kmsKeyId,
      issues: JSON.stringify(h.issues),
      key_state: h.keyState,
      checked_at: h.checkedAt,
    };
    await this.cdb.db
      .insertInto("cp_cluster_health")
      .values({ cluster_id: clusterId, ...row })
      .onConflict((oc) => oc.column("cluster_id").doUpdateSet(row))
      .execute();
  }

  async deleteHealth(clusterId: string): Promise<void> {
    await this.cdb.db.deleteFrom("cp_cluster_health").where("cluster_id", "=", clusterId).execute();
  }

  /** Takes or renews the lease `name`: true when `owner` holds it until `until`. */
  async lease(name: string, owner: string, now: number, until: number): Promise<boolean> {
    await this.cdb.db
      .insertInto("cp_leases")
      .values({ name, owner, expires_at: until })
      .onConflict((oc) => oc.column("name").doNothing())
      .execute();
    const r = await this.cdb.db
      .updateTable("cp_leases")
      .set({ owner, expires_at: until })
      .where("name", "=", name)
      .where((eb) => eb.or([eb("owner", "=", owner), eb("expires_at", "<", now)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Gives the lease up (a clean stop: another instance takes over at once). */
  async release(name: string, owner: string): Promise<void> {
    await this.cdb.db
      .updateTable("cp_leases")
      .set({ expires_at: 0 })
      .where("name", "=", name)
      .where("owner", "=", owner)
      .execute();
  }
}
