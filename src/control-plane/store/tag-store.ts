import type { ControlPlaneDb } from "./migrations.js";

export interface ClusterTag {
  readonly key: string;
  readonly value: string;
}

/**
 * A cluster's tags (ACK's `tags`), replaced as a whole by ModifyClusterTags — ACK documents that
 * action as a full update — in one transaction, so a reader sees the old set or the new one.
 */
export class ClusterTagStore {
  constructor(private readonly cdb: ControlPlaneDb) {}

  async tagsOf(clusterId: string): Promise<ClusterTag[]> {
    const rows = await this.cdb.db
      .selectFrom("cp_cluster_tags")
      .select(["tag_key", "tag_value"])
      .where("cluster_id", "=", clusterId)
      .orderBy("position")
      .execute();
    return rows.map((r) => ({ key: r.tag_key, value: r.tag_value }));
  }

  async replaceTags(clusterId: string, tags: readonly ClusterTag[]): Promise<void> {
    await this.cdb.db.transaction().execute(async (tx) => {
      await tx.deleteFrom("cp_cluster_tags").where("cluster_id", "=", clusterId).execute();
      if (tags.length > 0)
        await tx
          .insertInto("cp_cluster_tags")
          .values(
            tags.map((t, i) => ({ cluster_id: clusterId, tag_key: t.key, tag_value: t.value, position: i })),
          )
          .execute();
    });
  }

  async deleteTags(clusterId: string): Promise<void> {
    await this.cdb.db.deleteFrom("cp_cluster_tags").where("cluster_id", "=", clusterId).execute();
  }
}
