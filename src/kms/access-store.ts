import { randomBytes } from "node:crypto";
import type { LRUCache } from "lru-cache";
import { systemClock, type Clock } from "../common/clock.js";
import { kmsError } from "./kms-error.js";
import { BUILTIN_POLICIES, parsePolicyDocument, type PolicyDocument } from "./policy/index.js";
import type { RootKey } from "./root-key.js";
import type { KmsDb } from "./store/database.js";
import { ttlCache } from "./ttl-cache.js";

const PRINCIPAL_NAME = /^[a-zA-Z0-9._@-]{1,64}$/;
const POLICY_NAME = /^[a-zA-Z0-9-]{1,128}$/;
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
// Domain-separates access key secrets from other values the root key seals; never change it.
const SECRET_AAD_PREFIX = "atrest-kms/access-key-secret/v1\0";
/** Access keys (known or not: a miss is cached too) and principals' policies held in memory. */
const MAX_CACHED_ACCESS_KEYS = 10_000;
const MAX_CACHED_PRINCIPALS = 10_000;

/** An access key secret as the store keeps it (sealed by the root key, bound to the access key id). */
export function sealAccessKeySecret(rootKey: RootKey, accessKeyId: string, secret: string): Buffer {
  return rootKey.seal(Buffer.from(secret, "utf8"), Buffer.from(SECRET_AAD_PREFIX + accessKeyId));
}

export function openAccessKeySecret(rootKey: RootKey, accessKeyId: string, sealed: Buffer): string {
  return rootKey.open(sealed, Buffer.from(SECRET_AAD_PREFIX + accessKeyId)).toString("utf8");
}

function randomAlnum(n: number): string {
  const bytes = randomBytes(n * 2);
  let out = "";
  for (let i = 0; out.length < n && i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 248) out += ALNUM[b % 62];
  }
  return out.length === n ? out : randomAlnum(n);
}

export interface AccessKeyIdentity {
  accessKeyId: string;
  principal: string;
  /** Needed to verify the HMAC; kept in memory only, stored sealed by the root key. */
  secret: string;
}

/**
 * Principals, their access keys, policies and attachments. Lookups on the request path are cached
 * briefly (`cacheTtlMs`), so another instance's change is seen within that time.
 */
export class AccessStore {
  readonly #kdb: KmsDb;
  readonly #rootKey: RootKey;
  readonly #clock: Clock;
  /** `{ v: undefined }` remembers an unknown access key (lru-cache holds no undefined values). */
  readonly #akCache: LRUCache<string, { v: AccessKeyIdentity | undefined }> | undefined;
  readonly #policyCache: LRUCache<string, PolicyDocument[]> | undefined;

  constructor(options: { kdb: KmsDb; rootKey: RootKey; clock?: Clock; cacheTtlMs?: number }) {
    this.#kdb = options.kdb;
    this.#rootKey = options.rootKey;
    this.#clock = options.clock ?? systemClock;
    const ttlMs = options.cacheTtlMs ?? 1000;
    this.#akCache = ttlCache({ max: MAX_CACHED_ACCESS_KEYS, ttlMs, clock: this.#clock });
    this.#policyCache = ttlCache({ max: MAX_CACHED_PRINCIPALS, ttlMs, clock: this.#clock });
  }

  get #db() {
    return this.#kdb.db;
  }

  #invalidate(): void {
    this.#akCache?.clear();
    this.#policyCache?.clear();
  }

  async lookupAccessKey(accessKeyId: string): Promise<AccessKeyIdentity | undefined> {
    const hit = this.#akCache?.get(accessKeyId);
    if (hit !== undefined) return hit.v;
    const row = await this.#db
      .selectFrom("access_keys")
      .selectAll()
      .where("access_key_id", "=", accessKeyId)
      .executeTakeFirst();
    const v =
      row === undefined
        ? undefined
        : {
            accessKeyId,
            principal: row.principal_name,
            secret: openAccessKeySecret(this.#rootKey, accessKeyId, row.secret_wrapped),
          };
    this.#akCache?.set(accessKeyId, { v });
    return v;
  }

  async policiesFor(principal: string): Promise<PolicyDocument[]> {
    const hit = this.#policyCache?.get(principal);
    if (hit !== undefined) return hit;
    const rows = await this.#db
      .selectFrom("attachments")
      .leftJoin("policies", "policies.policy_name", "attachments.policy_name")
      .select(["attachments.policy_name as name", "policies.document as document"])
      .where("attachments.principal_name", "=", principal)
      .execute();
    const docs: PolicyDocument[] = [];
    for (const r of rows) {
      const builtin = (BUILTIN_POLICIES as Record<string, PolicyDocument | undefined>)[r.name];
      if (r.document !== null && r.document !== undefined) docs.push(parsePolicyDocument(r.document));
      else if (builtin !== undefined) docs.push(builtin);
    }
    this.#policyCache?.set(principal, docs);
    return docs;
  }

  // ---- principals ----

  async createPrincipal(name: string): Promise<void> {
    if (!PRINCIPAL_NAME.test(name))
      throw kmsError("InvalidParameter", "PrincipalName: 1-64 of [a-zA-Z0-9._@-]");
    const res = await this.#db
      .insertInto("principals")
      .values({ principal_name: name, created_at: this.#clock.now() })
      .onConflict((oc) => oc.column("principal_name").doNothing())
      .executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 0n) !== 1)
      throw kmsError("Rejected.ResourceExist", `principal ${name} already exists`);
  }

  async listPrincipals(): Promise<Array<{ principal_name: string; created_at: number }>> {
    return this.#db.selectFrom("principals").selectAll().orderBy("principal_name").execute();
  }

  async #requirePrincipal(name: string): Promise<void> {
    const row = await this.#db
      .selectFrom("principals")
      .select("principal_name")
      .where("principal_name", "=", name)
      .executeTakeFirst();
    if (row === undefined) throw kmsError("Forbidden.ResourceNotFound", `principal ${name} does not exist`);
  }

  async deletePrincipal(name: string): Promise<void> {
    await this.#requirePrincipal(name);
    await this.#db.transaction().execute(async (tx) => {
      await tx.deleteFrom("access_keys").where("principal_name", "=", name).execute();
      await tx.deleteFrom("attachments").where("principal_name", "=", name).execute();
      await tx.deleteFrom("principals").where("principal_name", "=", name).execute();
    });
    this.#invalidate();
  }

  // ---- access keys ----

  async createAccessKey(principal: string): Promise<{ accessKeyId: string; accessKeySecret: string }> {
    await this.#requirePrincipal(principal);
    const accessKeyId = `LTAI${randomAlnum(20)}`;
    const accessKeySecret = randomAlnum(30);
    await this.#db
      .insertInto("access_keys")
      .values({
        access_key_id: accessKeyId,
        principal_name: principal,
        secret_wrapped: sealAccessKeySecret(this.#rootKey, accessKeyId, accessKeySecret),
        created_at: this.#clock.now(),
      })
      .execute();
    this.#akCache?.delete(accessKeyId);
    return { accessKeyId, accessKeySecret };
  }

  async listAccessKeys(principal: string): Promise<Array<{ access_key_id: string; created_at: number }>> {
    await this.#requirePrincipal(principal);
    return this.#db
      .selectFrom("access_keys")
      .select(["access_key_id", "created_at"])
      .where("principal_name", "=", principal)
      .orderBy("created_at")
      .execute();
  }

  async deleteAccessKey(accessKeyId: string): Promise<void> {
    const res = await this.#db
      .deleteFrom("access_keys")
      .where("access_key_id", "=", accessKeyId)
      .executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1)
      throw kmsError("Forbidden.ResourceNotFound", `access key ${accessKeyId} does not exist`);
    this.#invalidate();
  }

  // ---- policies ----

  async createPolicy(name: string, document: string): Promise<void> {
    if (!POLICY_NAME.test(name)) throw kmsError("InvalidParameter", "PolicyName: 1-128 of [a-zA-Z0-9-]");
    if (name in BUILTIN_POLICIES)
      throw kmsError("Rejected.ResourceExist", `policy ${name} is a built-in policy`);
    try {
      parsePolicyDocument(document);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw kmsError("InvalidParameter", `PolicyDocument: ${message}`, { cause: err });
    }
    const res = await this.#db
      .insertInto("policies")
      .values({ policy_name: name, document, created_at: this.#clock.now() })
      .onConflict((oc) => oc.column("policy_name").doNothing())
      .executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 0n) !== 1)
      throw kmsError("Rejected.ResourceExist", `policy ${name} already exists`);
  }

  async listPolicies(): Promise<Array<{ name: string; builtin: boolean; document: string }>> {
    const rows = await this.#db.selectFrom("policies").selectAll().orderBy("policy_name").execute();
    return [
      ...Object.entries(BUILTIN_POLICIES as Record<string, PolicyDocument>).map(([name, doc]) => ({
        name,
        builtin: true,
        document: JSON.stringify(doc),
      })),
      ...rows.map((r) => ({ name: r.policy_name, builtin: false, document: r.document })),
    ];
  }

  async deletePolicy(name: string): Promise<void> {
    if (name in BUILTIN_POLICIES)
      throw kmsError("Rejected.UnsupportedOperation", `policy ${name} is built in and cannot be deleted`);
    const attached = await this.#db
      .selectFrom("attachments")
      .select("principal_name")
      .where("policy_name", "=", name)
      .executeTakeFirst();
    if (attached !== undefined)
      throw kmsError(
        "Rejected.ResourceInUse",
        `policy ${name} is attached to ${attached.principal_name}; detach it first`,
      );
    const res = await this.#db.deleteFrom("policies").where("policy_name", "=", name).executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1)
      throw kmsError("Forbidden.ResourceNotFound", `policy ${name} does not exist`);
  }

  async attachPolicy(policyName: string, principal: string): Promise<void> {
    await this.#requirePrincipal(principal);
    if (!(policyName in BUILTIN_POLICIES)) {
      const p = await this.#db
        .selectFrom("policies")
        .select("policy_name")
        .where("policy_name", "=", policyName)
        .executeTakeFirst();
      if (p === undefined)
        throw kmsError("Forbidden.ResourceNotFound", `policy ${policyName} does not exist`);
    }
    await this.#db
      .insertInto("attachments")
      .values({ policy_name: policyName, principal_name: principal, created_at: this.#clock.now() })
      .onConflict((oc) => oc.columns(["policy_name", "principal_name"]).doNothing())
      .execute();
    this.#invalidate();
  }

  async detachPolicy(policyName: string, principal: string): Promise<void> {
    const res = await this.#db
      .deleteFrom("attachments")
      .where("policy_name", "=", policyName)
      .where("principal_name", "=", principal)
      .executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1)
      throw kmsError("Forbidden.ResourceNotFound", `policy ${policyName} is not attached to ${principal}`);
    this.#invalidate();
  }
}
