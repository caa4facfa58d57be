import type { Transaction } from "kysely";
import { kmsError } from "../kms-error.js";
import type { KmsDatabase } from "../store/schema.js";
import { MAX_TAGS_PER_KEY } from "./key-policy.js";
import type { KeyRecords } from "./key-records.js";
import type { KeyTag, TagInput } from "./key-types.js";

/** Sets tags on a key (a TagKey already there gets the new value); at most MAX_TAGS_PER_KEY in all. */
export async function tagResource(rec: KeyRecords, keyId: string, tags: readonly TagInput[]): Promise<void> {
  await rec.getKey(keyId);
  await rec.db.transaction().execute(async (tx) => {
    for (const t of tags) {
      await tx
        .insertInto("tags")
        .values({ key_id: keyId, tag_key: t.TagKey, tag_value: t.TagValue })
        .onConflict((oc) => oc.columns(["key_id", "tag_key"]).doUpdateSet({ tag_value: t.TagValue }))
        .execute();
    }
    await bumpGeneration(tx, keyId);
    const n = await tx
      .selectFrom("tags")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("key_id", "=", keyId)
      .executeTakeFirstOrThrow();
    if (Number(n.n) > MAX_TAGS_PER_KEY)
      throw kmsError("InvalidParameter", `Tags: a key holds at most ${MAX_TAGS_PER_KEY} tags`);
  });
  rec.forget(keyId);
}

export async function untagResource(
  rec: KeyRecords,
  keyId: string,
  tagKeys: readonly string[],
): Promise<void> {
  await rec.getKey(keyId);
  await rec.db.transaction().execute(async (tx) => {
    await tx.deleteFrom("tags").where("key_id", "=", keyId).where("tag_key", "in", tagKeys).execute();
    await bumpGeneration(tx, keyId);
  });
  rec.forget(keyId);
}

/**
 * Tags decide what a key change may do (a cluster's tag protects it), so a tag change counts as a
 * change of the key: a concurrent DisableKey that read the tags before loses its compare-and-set.
 */
async function bumpGeneration(tx: Transaction<KmsDatabase>, keyId: string): Promise<void> {
  await tx
    .updateTable("keys")
    .set((eb) => ({ generation: eb("generation", "+", 1) }))
    .where("key_id", "=", keyId)
    .execute();
}

export async function listTags(rec: KeyRecords, keyId: string): Promise<KeyTag[]> {
  await rec.getKey(keyId);
  return rec.tagsOf(keyId);
}
