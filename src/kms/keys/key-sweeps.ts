import type { KeyRecords } from "./key-records.js";
import { createKeyVersion } from "./key-versions.js";

/** Rotates every key whose automatic rotation is due at `now`. Returns the rotated key ids. */
export async function rotateDueKeys(rec: KeyRecords, now: number): Promise<string[]> {
  const due = await rec.db
    .selectFrom("keys")
    .select("key_id")
    .where("automatic_rotation", "=", "Enabled")
    .where("key_state", "=", "Enabled")
    .where("next_rotation_at", "<=", now)
    .execute();
  const rotated: string[] = [];
  for (const { key_id } of due) {
    const r = await createKeyVersion(rec, key_id, { onlyIfDue: now });
    if (r !== undefined) rotated.push(key_id);
  }
  return rotated;
}

/** Purges keys whose deletion window has passed: rows removed (compare-and-set), then material destroyed. */
export async function purgeDueKeys(rec: KeyRecords, now: number): Promise<string[]> {
  const due = await rec.db
    .selectFrom("keys")
    .select(["key_id", "generation"])
    .where("key_state", "=", "PendingDeletion")
    .where("delete_at", "<=", now)
    .execute();
  const purged: string[] = [];
  for (const { key_id, generation } of due) {
    const versions = await rec.db
      .selectFrom("key_versions")
      .selectAll()
      .where("key_id", "=", key_id)
      .execute();
    const won = await rec.db.transaction().execute(async (tx) => {
      const res = await tx
        .deleteFrom("keys")
        .where("key_id", "=", key_id)
        .where("generation", "=", generation)
        .where("key_state", "=", "PendingDeletion")
        .executeTakeFirst();
      if (Number(res.numDeletedRows) !== 1) return false;
      await tx.deleteFrom("key_versions").where("key_id", "=", key_id).execute();
      await tx.deleteFrom("aliases").where("key_id", "=", key_id).execute();
      await tx.deleteFrom("tags").where("key_id", "=", key_id).execute();
      return true;
    });
    if (!won) continue;
    rec.forget(
      key_id,
      versions.map((v) => v.key_version_id),
    );
    for (const v of versions) {
      await rec
        .protectionIfAvailable(v.protection_level)
        ?.destroy({ keyId: key_id, keyVersionId: v.key_version_id }, v.stored_ref);
    }
    purged.push(key_id);
  }
  return purged;
}
