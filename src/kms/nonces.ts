import type { Kysely, Transaction } from "kysely";
import { nonceDigest } from "../iam/nonce-digest.js";
import type { KmsDatabase } from "./store/schema.js";

/** One SignatureNonce to reserve: used once per access key inside the timestamp window. */
export interface NonceReservation {
  readonly digest: Buffer;
  readonly expiresAt: number;
}

export function nonceReservation(accessKeyId: string, nonce: string, expiresAt: number): NonceReservation {
  return { digest: nonceDigest(accessKeyId, nonce), expiresAt };
}

/**
 * Records the nonces inside the caller's transaction; for each, true when it was not seen before. The
 * store's primary key decides, so two instances on one PostgreSQL agree; a nonce repeated inside one
 * batch is fresh only for its first use.
 */
export async function insertNonces(
  tx: Transaction<KmsDatabase>,
  items: readonly NonceReservation[],
): Promise<boolean[]> {
  if (items.length === 0) return [];
  const hex = items.map((it) => it.digest.toString("hex"));
  const first = new Map<string, number>();
  hex.forEach((h, i) => {
    if (!first.has(h)) first.set(h, i);
  });
  const inserted = await tx
    .insertInto("nonce_digests")
    .values([...first.values()].map((i) => ({ digest: items[i]!.digest, expires_at: items[i]!.expiresAt })))
    .onConflict((oc) => oc.column("digest").doNothing())
    .returning("digest")
    .execute();
  const fresh = new Set(inserted.map((r) => Buffer.from(r.digest).toString("hex")));
  return hex.map((h, i) => first.get(h) === i && fresh.has(h));
}

/** Forgets nonces whose window has passed; returns how many. */
export async function purgeExpiredNonces(db: Kysely<KmsDatabase>, now: number): Promise<number> {
  const res = await db.deleteFrom("nonce_digests").where("expires_at", "<", now).executeTakeFirst();
  return Number(res.numDeletedRows);
}
