import type { ClusterUse } from "./cluster-tags.js";
import { newKeyRow, planKeyChange, type KeyChange } from "./key-policy.js";
import type { KeyRecords } from "./key-records.js";
import type { CreateKeyInput, KeyListFilters, KeyRow, Page } from "./key-types.js";

/** Creates a key and its first version; the material is durable before the key is returned. */
export async function createKey(rec: KeyRecords, input: CreateKeyInput): Promise<KeyRow> {
  const protection = rec.protection(input.protectionLevel);
  const now = rec.clock.now();
  const ids = { keyId: rec.random.uuid(), versionId: rec.random.uuid() };
  const row = newKeyRow(input, ids, now);
  const ref = await protection.generate({ keyId: ids.keyId, keyVersionId: ids.versionId });
  try {
    await rec.db.transaction().execute(async (tx) => {
      await tx.insertInto("keys").values(row).execute();
      await tx
        .insertInto("key_versions")
        .values({
          key_version_id: ids.versionId,
          key_id: ids.keyId,
          created_at: now,
          protection_level: input.protectionLevel,
          stored_ref: ref,
        })
        .execute();
      for (const t of input.tags ?? [])
        await tx
          .insertInto("tags")
          .values({ key_id: ids.keyId, tag_key: t.TagKey, tag_value: t.TagValue })
          .execute();
    });
  } catch (err) {
    await protection.destroy({ keyId: ids.keyId, keyVersionId: ids.versionId }, ref).catch(() => undefined);
    throw err;
  }
  // Key material must not be lost once a ciphertext can depend on it: durable before it is used.
  await rec.kdb.sync();
  return row;
}

/** Applies a state or settings change (not a rotation: see key-versions.ts) as the policy plans it. */
export async function changeKey(
  rec: KeyRecords,
  keyId: string,
  change: Exclude<KeyChange, { op: "CreateKeyVersion" }>,
): Promise<{ row: KeyRow; overrode: readonly ClusterUse[] }> {
  const { row, plan } = await rec.mutateKey(keyId, (current, tags) =>
    planKeyChange(current, change, { now: rec.clock.now(), tags }),
  );
  return { row, overrode: plan.overrode };
}

/** Lists keys, optionally only those whose KeyState / KeySpec / ProtectionLevel are among the given values. */
export async function listKeys(
  rec: KeyRecords,
  page: Page,
  filters: KeyListFilters = {},
): Promise<{ rows: KeyRow[]; total: number }> {
  let count = rec.db.selectFrom("keys").select((eb) => eb.fn.countAll<number>().as("n"));
  let q = rec.db.selectFrom("keys").selectAll();
  const columns = {
    KeyState: "key_state",
    KeySpec: "key_spec",
    ProtectionLevel: "protection_level",
  } as const;
  for (const [name, column] of Object.entries(columns) as Array<
    [keyof KeyListFilters, (typeof columns)[keyof typeof columns]]
  >) {
    const values = filters[name];
    if (values === undefined) continue;
    count = count.where(column, "in", values);
    q = q.where(column, "in", values);
  }
  const total = await count.executeTakeFirstOrThrow();
  const rows = await q
    .orderBy("created_at")
    .orderBy("key_id")
    .limit(page.pageSize)
    .offset((page.pageNumber - 1) * page.pageSize)
    .execute();
  return { rows, total: Number(total.n) };
}
