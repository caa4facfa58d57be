import { kmsError } from "../kms-error.js";
import type { KeyRecords } from "./key-records.js";
import type { Page } from "./key-types.js";

function aliasNotFound(aliasName: string) {
  return kmsError("Forbidden.AliasNotFound", `The specified Alias is not found: ${aliasName}`);
}

/** Resolves a KeyId parameter: a key id, `alias/<name>`, or an ARN `acs:kms:<r>:<a>:key/<id>` / `:alias/<name>`. */
export async function resolveKeyId(rec: KeyRecords, value: string): Promise<string> {
  let v = value;
  const arn = /^acs:kms:[^:]*:[^:]*:(key\/.+|alias\/.+)$/.exec(v);
  if (arn !== null) v = arn[1]!.startsWith("key/") ? arn[1]!.slice(4) : arn[1]!;
  if (v.startsWith("alias/")) {
    const row = await rec.db
      .selectFrom("aliases")
      .select("key_id")
      .where("alias_name", "=", v)
      .executeTakeFirst();
    if (row === undefined) throw aliasNotFound(v);
    return row.key_id;
  }
  return v;
}

export async function createAlias(rec: KeyRecords, aliasName: string, keyId: string): Promise<void> {
  await rec.getKey(keyId);
  const res = await rec.db
    .insertInto("aliases")
    .values({ alias_name: aliasName, key_id: keyId, created_at: rec.clock.now() })
    .onConflict((oc) => oc.column("alias_name").doNothing())
    .executeTakeFirst();
  if (Number(res.numInsertedOrUpdatedRows ?? 0n) !== 1)
    throw kmsError("Rejected.ResourceExist", `The alias ${aliasName} already exists`);
}

export async function updateAlias(rec: KeyRecords, aliasName: string, keyId: string): Promise<void> {
  await rec.getKey(keyId);
  const res = await rec.db
    .updateTable("aliases")
    .set({ key_id: keyId })
    .where("alias_name", "=", aliasName)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw aliasNotFound(aliasName);
}

export async function deleteAlias(rec: KeyRecords, aliasName: string): Promise<void> {
  const res = await rec.db.deleteFrom("aliases").where("alias_name", "=", aliasName).executeTakeFirst();
  if (Number(res.numDeletedRows) !== 1) throw aliasNotFound(aliasName);
}

export async function listAliases(
  rec: KeyRecords,
  page: Page,
  keyId?: string,
): Promise<{ rows: Array<{ alias_name: string; key_id: string }>; total: number }> {
  if (keyId !== undefined) await rec.getKey(keyId);
  let count = rec.db.selectFrom("aliases").select((eb) => eb.fn.countAll<number>().as("n"));
  let q = rec.db.selectFrom("aliases").select(["alias_name", "key_id"]);
  if (keyId !== undefined) {
    count = count.where("key_id", "=", keyId);
    q = q.where("key_id", "=", keyId);
  }
  const total = await count.executeTakeFirstOrThrow();
  const rows = await q
    .orderBy("alias_name")
    .limit(page.pageSize)
    .offset((page.pageNumber - 1) * page.pageSize)
    .execute();
  return { rows, total: Number(total.n) };
}
