import type { KmsDb } from "./store/database.js";
import { GroupCommit } from "./group-commit.js";

/**
 * Replay protection: a SignatureNonce may be used once per access key inside the timestamp window.
 * Nonces are inserted into the shared store (so two instances on one PostgreSQL agree), batched.
 */
export class NonceGuard {
  readonly #kdb: KmsDb;
  readonly #batch: GroupCommit<{ accessKeyId: string; nonce: string; expiresAt: number }, boolean>;

  constructor(kdb: KmsDb) {
    this.#kdb = kdb;
    this.#batch = new GroupCommit(async (items) => {
      const seen = new Set<string>();
      const unique: typeof items = [];
      const firstIndex: boolean[] = [];
      for (const it of items) {
        const k = `${it.accessKeyId}\0${it.nonce}`;
        firstIndex.push(!seen.has(k));
        if (!seen.has(k)) {
          seen.add(k);
          unique.push(it);
        }
      }
      const inserted = await this.#kdb.db
        .insertInto("nonces")
        .values(
          unique.map((u) => ({ access_key_id: u.accessKeyId, nonce: u.nonce, expires_at: u.expiresAt })),
        )
        .onConflict((oc) => oc.columns(["access_key_id", "nonce"]).doNothing())
        .returning(["access_key_id", "nonce"])
        .execute();
      const fresh = new Set(inserted.map((r) => `${r.access_key_id}\0${r.nonce}`));
      return items.map((it, i) => firstIndex[i] === true && fresh.has(`${it.accessKeyId}\0${it.nonce}`));
    });
  }

  /** True when the nonce was not seen before (and is now recorded until `expiresAt`). */
  reserve(accessKeyId: string, nonce: string, expiresAt: number): Promise<boolean> {
    return this.#batch.submit({ accessKeyId, nonce, expiresAt });
  }

  async purgeExpired(now: number): Promise<number> {
    const res = await this.#kdb.db.deleteFrom("nonces").where("expires_at", "<", now).executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  idle(): Promise<void> {
    return this.#batch.idle();
  }
}
