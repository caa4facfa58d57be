import { sql } from "kysely";
import type { LRUCache } from "lru-cache";
import { systemClock, type Clock } from "../common/clock.js";
import type { AssumedRoleCaller, CallerIdentity, ResolvedCredential } from "./caller.js";
import { iamError } from "./iam-error.js";
import { newAccessKey, newPrincipalId, STS_ACCESS_KEY_PREFIX } from "./ids.js";
import { hashPassword, verifyPassword } from "./passwords.js";
import {
  BUILTIN_POLICIES,
  evaluatePolicies,
  isBuiltinPolicyName,
  parsePolicyDocument,
  parseTrustPolicy,
  type PolicyDecision,
  type PolicyDocument,
} from "./policy/index.js";
import { openAccessKeySecret, sealAccessKeySecret, type SecretSealer } from "./sealer.js";
import type { IamDb } from "./store/migrations.js";
import type { PrincipalsTable, PrincipalType } from "./store/schema.js";
import { openAnySessionToken } from "./sts/session-token.js";
import {
  endUserSession,
  issueUserSession,
  userSessionCaller,
  userSessionEnded,
  userSessionOpen,
  type UserSessionCredentials,
} from "./sts/user-session.js";
import { ttlCache } from "../common/ttl-cache.js";

const PRINCIPAL_NAME = /^[a-zA-Z0-9._@-]{1,64}$/;
const POLICY_NAME = /^[a-zA-Z0-9-]{1,128}$/;
const MAX_CACHED = 10_000;
/** RAM: at most two access keys per user. atrest allows a few more (rotation overlap for several consumers). */
export const MAX_ACCESS_KEYS_PER_PRINCIPAL = 5;
/** RAM's bounds of a role's MaxSessionDuration (seconds). */
export const MAX_SESSION_DURATION_RANGE = { min: 3600, max: 43_200 } as const;

export type PrincipalRow = PrincipalsTable;

export interface PolicyRow {
  readonly name: string;
  readonly builtin: boolean;
  readonly document: string;
  readonly createdAt: number;
}

interface KeyEntry {
  readonly secret: string;
  readonly principal: string;
}

const nameError = (what: string) =>
  iamError("InvalidParameter", `${what}: 1-64 characters of [a-zA-Z0-9._@-]`);

/**
 * The identity store: principals (users, roles, services), access keys, RAM-grammar policies and
 * their attachments, console passwords — and the resolution of every credential a signed request
 * carries, permanent (`LTAI…`) or STS (`STS.…` with its SecurityToken). Shared by the KMS and the
 * control plane over one database; lookups on the request path are cached for `cacheTtlMs`, so
 * another instance's change is seen within that time.
 */
export class IdentityStore {
  readonly #idb: IamDb;
  readonly #sealer: SecretSealer;
  readonly #clock: Clock;
  readonly accountId: string;
  readonly #keyCache: LRUCache<string, { v: KeyEntry | undefined }> | undefined;
  readonly #principalCache: LRUCache<string, { v: PrincipalRow | undefined }> | undefined;
  readonly #policyCache: LRUCache<string, PolicyDocument[]> | undefined;
  readonly #userSessionCache: LRUCache<string, { v: boolean }> | undefined;

  constructor(options: {
    idb: IamDb;
    sealer: SecretSealer;
    accountId: string;
    clock?: Clock;
    cacheTtlMs?: number;
  }) {
    this.#idb = options.idb;
    this.#sealer = options.sealer;
    this.#clock = options.clock ?? systemClock;
    this.accountId = options.accountId;
    const ttlMs = options.cacheTtlMs ?? 1000;
    this.#keyCache = ttlCache({ max: MAX_CACHED, ttlMs, clock: this.#clock });
    this.#principalCache = ttlCache({ max: MAX_CACHED, ttlMs, clock: this.#clock });
    this.#policyCache = ttlCache({ max: MAX_CACHED, ttlMs, clock: this.#clock });
    this.#userSessionCache = ttlCache({ max: MAX_CACHED, ttlMs, clock: this.#clock });
  }

  get #db() {
    return this.#idb.db;
  }

  get sealer(): SecretSealer {
    return this.#sealer;
  }

  #invalidate(): void {
    this.#keyCache?.clear();
    this.#principalCache?.clear();
    this.#policyCache?.clear();
  }

  // ---- the request path ----

  /**
   * The secret and the identity behind an access key id. An STS key needs its SecurityToken, which is
   * opened (a forged or altered token is refused) and whose role must still exist as the same role;
   * its expiry is checked by the caller after the signature (`assertSessionLive`). Undefined for an
   * unknown permanent key.
   */
  async resolveAccessKey(
    accessKeyId: string,
    securityToken?: string,
  ): Promise<ResolvedCredential | undefined> {
    if (accessKeyId.startsWith(STS_ACCESS_KEY_PREFIX)) {
      if (securityToken === undefined || securityToken === "")
        throw iamError(
          "InvalidSecurityToken.Malformed",
          "An STS access key needs its SecurityToken (the SecurityToken parameter or the x-acs-security-token header).",
        );
      const t = openAnySessionToken(this.#sealer, accessKeyId, securityToken);
      if (t.kind === "user") {
        const caller = userSessionCaller(accessKeyId, t, await this.#principal(t.userName));
        if (!(await this.#userSessionOpen(accessKeyId))) throw userSessionEnded();
        return { secret: t.sk, caller };
      }
      const p = t;
      const role = await this.#principal(p.roleName);
      if (role === undefined || role.principal_type !== "role" || role.principal_id !== p.roleId)
        throw iamError("InvalidSecurityToken.Expired", "The role of this STS session no longer exists.");
      const caller: AssumedRoleCaller = {
        type: "assumed-role",
        accessKeyId,
        principal: p.roleName,
        principalId: `${p.roleId}:${p.session}`,
        userName: `${p.roleName}:${p.session}`,
        roleName: p.roleName,
        roleId: p.roleId,
        sessionName: p.session,
        sessionCreatedAt: p.issuedAt,
        expiresAt: p.expiresAt,
        assumedBy: p.by,
        ...(p.policy === undefined ? {} : { sessionPolicy: parsePolicyDocument(p.policy) }),
      };
      return { secret: p.sk, caller };
    }
    if (securityToken !== undefined && securityToken !== "")
      throw iamError(
        "InvalidSecurityToken.MismatchWithAccessKey",
        "A SecurityToken was sent with a permanent access key; send it only with the STS access key it came with.",
      );
    const key = await this.#accessKey(accessKeyId);
    if (key === undefined) return undefined;
    const principal = await this.#principal(key.principal);
    if (principal === undefined) return undefined;
    return {
      secret: key.secret,
      caller: {
        type: principal.principal_type === "service" ? "service" : "ram-user",
        accessKeyId,
        principal: key.principal,
        principalId: principal.principal_id,
        userName: key.principal,
      },
    };
  }

  /** Refuses a session that expired (checked after its signature: expiry is no secret). */
  assertSessionLive(caller: CallerIdentity): void {
    if (caller.expiresAt === undefined || this.#clock.now() < caller.expiresAt) return;
    throw iamError(
      "InvalidSecurityToken.Expired",
      `The security token you provided has expired (at ${new Date(caller.expiresAt).toISOString()}); ${caller.type === "assumed-role" ? "assume the role again" : "sign in again"}.`,
    );
  }

  async #userSessionOpen(accessKeyId: string): Promise<boolean> {
    const hit = this.#userSessionCache?.get(accessKeyId);
    if (hit !== undefined) return hit.v;
    const v = await userSessionOpen(this.#db, accessKeyId);
    this.#userSessionCache?.set(accessKeyId, { v });
    return v;
  }

  async #accessKey(accessKeyId: string): Promise<KeyEntry | undefined> {
    const hit = this.#keyCache?.get(accessKeyId);
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
            principal: row.principal_name,
            secret: openAccessKeySecret(this.#sealer, accessKeyId, Buffer.from(row.secret_wrapped)),
          };
    this.#keyCache?.set(accessKeyId, { v });
    return v;
  }

  async #principal(name: string): Promise<PrincipalRow | undefined> {
    const hit = this.#principalCache?.get(name);
    if (hit !== undefined) return hit.v;
    const v = await this.#db
      .selectFrom("principals")
      .selectAll()
      .where("principal_name", "=", name)
      .executeTakeFirst();
    this.#principalCache?.set(name, { v });
    return v;
  }

  /** The policies attached to a principal (built-in ones by name). */
  async policiesOf(principal: string): Promise<PolicyDocument[]> {
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
      if (r.document !== null && r.document !== undefined) docs.push(parsePolicyDocument(r.document));
      else if (isBuiltinPolicyName(r.name)) docs.push(BUILTIN_POLICIES[r.name]);
    }
    this.#policyCache?.set(principal, docs);
    return docs;
  }

  /**
   * RAM's decision for a caller on one action and resource: its principal's policies decide, and for
   * an STS session with a Policy that policy must allow too (it can only narrow); an explicit Deny in
   * either wins.
   */
  async decide(caller: CallerIdentity, action: string, resource: string): Promise<PolicyDecision> {
    const decision = evaluatePolicies(await this.policiesOf(caller.principal), { action, resource });
    if (decision !== "allow" || caller.type !== "assumed-role" || caller.sessionPolicy === undefined)
      return decision;
    return evaluatePolicies([caller.sessionPolicy], { action, resource });
  }

  /** Allowed when any of `arns` is allowed and none is denied. */
  async allows(caller: CallerIdentity, action: string, arns: readonly string[]): Promise<boolean> {
    const decisions = await Promise.all(arns.map((r) => this.decide(caller, action, r)));
    return !decisions.includes("deny") && decisions.includes("allow");
  }

  // ---- principals ----

  async createPrincipal(
    name: string,
    type: PrincipalType = "user",
    fields: {
      description?: string;
      displayName?: string;
      trustPolicy?: string;
      maxSessionDurationS?: number;
    } = {},
  ): Promise<PrincipalRow> {
    if (!PRINCIPAL_NAME.test(name)) throw nameError(type === "role" ? "RoleName" : "UserName");
    if (type === "role") {
      if (fields.trustPolicy === undefined)
        throw iamError("MissingParameter", 'The input parameter "AssumeRolePolicyDocument" is not supplied.');
      checkTrustPolicy(fields.trustPolicy);
      checkMaxSessionDuration(fields.maxSessionDurationS ?? 3600);
    }
    const row: PrincipalRow = {
      principal_name: name,
      created_at: this.#clock.now(),
      principal_type: type,
      principal_id: newPrincipalId(type),
      description: (fields.description ?? "").slice(0, 1024),
      display_name: (fields.displayName ?? "").slice(0, 128),
      password_hash: null,
      password_reset_required: 0,
      trust_policy: type === "role" ? (fields.trustPolicy ?? null) : null,
      max_session_duration_s: type === "role" ? (fields.maxSessionDurationS ?? 3600) : null,
    };
    // RAM's names are case-insensitive (an ARN may spell a role in lower case): one per spelling.
    const sameName = await this.#findByNameInsensitive(name);
    const res =
      sameName !== undefined
        ? undefined
        : await this.#db
            .insertInto("principals")
            .values(row)
            .onConflict((oc) => oc.column("principal_name").doNothing())
            .executeTakeFirst();
    if (res === undefined || Number(res.numInsertedOrUpdatedRows ?? 0n) !== 1)
      throw iamError(
        type === "role" ? "EntityAlreadyExists.Role" : "EntityAlreadyExists.User",
        `principal ${name} already exists (users, roles and services share one namespace)`,
      );
    this.#principalCache?.delete(name);
    return row;
  }

  #findByNameInsensitive(name: string): Promise<PrincipalRow | undefined> {
    return this.#db
      .selectFrom("principals")
      .selectAll()
      .where(sql<string>`lower(principal_name)`, "=", name.toLowerCase())
      .executeTakeFirst();
  }

  /** A role by its name in any case (RAM's role names are case-insensitive; ARNs often lower-case them). */
  async findRole(name: string): Promise<PrincipalRow | undefined> {
    const row = await this.#findByNameInsensitive(name);
    return row?.principal_type === "role" ? row : undefined;
  }

  async listPrincipals(type?: PrincipalType): Promise<PrincipalRow[]> {
    let q = this.#db.selectFrom("principals").selectAll().orderBy("principal_name");
    if (type !== undefined) q = q.where("principal_type", "=", type);
    return q.execute();
  }

  /** The principal, checked to be of `type` when given; EntityNotExist.* otherwise. */
  async getPrincipal(name: string, type?: PrincipalType | readonly PrincipalType[]): Promise<PrincipalRow> {
    const row = await this.#db
      .selectFrom("principals")
      .selectAll()
      .where("principal_name", "=", name)
      .executeTakeFirst();
    const types = type === undefined ? undefined : typeof type === "string" ? [type] : type;
    if (row === undefined || (types !== undefined && !types.includes(row.principal_type as PrincipalType)))
      throw iamError(
        types?.includes("role") === true ? "EntityNotExist.Role" : "EntityNotExist.User",
        `The ${types?.includes("role") === true ? "role" : "principal"} ${name} does not exist.`,
      );
    return row;
  }

  /**
   * Deletes a principal. With `cascade` its access keys and attachments go too (the KMS's
   * DeletePrincipal); without, RAM's rule: delete the access keys and detach the policies first.
   */
  async deletePrincipal(name: string, options: { cascade: boolean; type?: PrincipalType }): Promise<void> {
    await this.getPrincipal(name, options.type);
    await this.#db.transaction().execute(async (tx) => {
      if (!options.cascade) {
        const key = await tx
          .selectFrom("access_keys")
          .select("access_key_id")
          .where("principal_name", "=", name)
          .executeTakeFirst();
        if (key !== undefined)
          throw iamError("DeleteConflict.User.AccessKey", `${name} still has access keys; delete them first`);
        const att = await tx
          .selectFrom("attachments")
          .select("policy_name")
          .where("principal_name", "=", name)
          .executeTakeFirst();
        if (att !== undefined)
          throw iamError(
            "DeleteConflict.Role.Policy",
            `${name} still has policy ${att.policy_name} attached; detach its policies first`,
          );
      }
      await tx.deleteFrom("access_keys").where("principal_name", "=", name).execute();
      await tx.deleteFrom("attachments").where("principal_name", "=", name).execute();
      await tx.deleteFrom("principals").where("principal_name", "=", name).execute();
    });
    this.#invalidate();
  }

  /** Changes a role's trust policy or MaxSessionDuration (RAM's UpdateRole). */
  async updateRole(
    name: string,
    change: { trustPolicy?: string; maxSessionDurationS?: number },
  ): Promise<PrincipalRow> {
    await this.getPrincipal(name, "role");
    if (change.trustPolicy !== undefined) checkTrustPolicy(change.trustPolicy);
    if (change.maxSessionDurationS !== undefined) checkMaxSessionDuration(change.maxSessionDurationS);
    await this.#db
      .updateTable("principals")
      .set({
        ...(change.trustPolicy === undefined ? {} : { trust_policy: change.trustPolicy }),
        ...(change.maxSessionDurationS === undefined
          ? {}
          : { max_session_duration_s: change.maxSessionDurationS }),
      })
      .where("principal_name", "=", name)
      .execute();
    this.#principalCache?.delete(name);
    return this.getPrincipal(name, "role");
  }

  // ---- console passwords ----

  async setPassword(
    userName: string,
    password: string,
    options: { create: boolean; resetRequired?: boolean },
  ): Promise<void> {
    const user = await this.getPrincipal(userName, "user");
    if (options.create && user.password_hash !== null)
      throw iamError("EntityAlreadyExists.User.LoginProfile", `${userName} already has a login profile`);
    if (!options.create && user.password_hash === null)
      throw iamError("EntityNotExist.User.LoginProfile", `${userName} has no login profile`);
    const hash = await hashPassword(password);
    await this.#db
      .updateTable("principals")
      .set({ password_hash: hash, password_reset_required: options.resetRequired === true ? 1 : 0 })
      .where("principal_name", "=", userName)
      .execute();
    this.#principalCache?.delete(userName);
  }

  async deletePassword(userName: string): Promise<void> {
    const user = await this.getPrincipal(userName, "user");
    if (user.password_hash === null)
      throw iamError("EntityNotExist.User.LoginProfile", `${userName} has no login profile`);
    await this.#db
      .updateTable("principals")
      .set({ password_hash: null })
      .where("principal_name", "=", userName)
      .execute();
    this.#principalCache?.delete(userName);
  }

  /**
   * Console sign-in: the user's identity when the password matches, undefined otherwise (an unknown
   * user costs the same scrypt as a known one, so timing tells neither apart).
   */
  async verifyConsolePassword(userName: string, password: string): Promise<CallerIdentity | undefined> {
    const row = await this.#db
      .selectFrom("principals")
      .selectAll()
      .where("principal_name", "=", userName)
      .executeTakeFirst();
    const stored = row?.principal_type === "user" ? row.password_hash : null;
    const ok = await verifyPassword(password, stored ?? DUMMY_HASH);
    if (!ok || row === undefined || stored === null) return undefined;
    return {
      type: "ram-user",
      accessKeyId: "",
      principal: userName,
      principalId: row.principal_id,
      userName,
    };
  }

  /**
   * Console sign-in's check: the user and whether it must set a new password first, when the password
   * matches; undefined otherwise (an unknown user costs the same scrypt as a known one).
   */
  async checkConsolePassword(
    userName: string,
    password: string,
  ): Promise<{ caller: CallerIdentity; passwordResetRequired: boolean } | undefined> {
    const row = PRINCIPAL_NAME.test(userName)
      ? await this.#db
          .selectFrom("principals")
          .selectAll()
          .where("principal_name", "=", userName)
          .executeTakeFirst()
      : undefined;
    const stored = row?.principal_type === "user" ? row.password_hash : null;
    const ok = await verifyPassword(password, stored ?? DUMMY_HASH);
    if (!ok || row === undefined || stored === null) return undefined;
    return {
      caller: {
        type: "ram-user",
        accessKeyId: "",
        principal: userName,
        principalId: row.principal_id,
        userName,
      },
      passwordResetRequired: Number(row.password_reset_required) === 1,
    };
  }

  /**
   * A console session credential for a user with a login profile (after its password was checked):
   * STS credentials of the user itself (src/iam/sts/user-session.ts).
   */
  async issueUserSession(
    userName: string,
    options: { durationSeconds: number },
  ): Promise<UserSessionCredentials> {
    const user = await this.getPrincipal(userName, "user");
    return issueUserSession({ db: this.#db, sealer: this.#sealer }, user, {
      now: this.#clock.now(),
      durationSeconds: options.durationSeconds,
    });
  }

  /** Ends a user's console session credential: every service refuses it from now on. */
  async endUserSession(accessKeyId: string): Promise<void> {
    await endUserSession(this.#db, accessKeyId, this.#clock.now());
    this.#userSessionCache?.delete(accessKeyId);
  }

  // ---- access keys ----

  async createAccessKey(
    principal: string,
  ): Promise<{ accessKeyId: string; accessKeySecret: string; createdAt: number }> {
    await this.getPrincipal(principal, ["user", "service"]);
    const existing = await this.listAccessKeys(principal);
    if (existing.length >= MAX_ACCESS_KEYS_PER_PRINCIPAL)
      throw iamError(
        "LimitExceeded.User.AccessKey",
        `${principal} already has ${existing.length} access keys (at most ${MAX_ACCESS_KEYS_PER_PRINCIPAL}); delete one first`,
      );
    const { accessKeyId, accessKeySecret } = newAccessKey();
    const createdAt = this.#clock.now();
    await this.#db
      .insertInto("access_keys")
      .values({
        access_key_id: accessKeyId,
        principal_name: principal,
        secret_wrapped: sealAccessKeySecret(this.#sealer, accessKeyId, accessKeySecret),
        created_at: createdAt,
      })
      .execute();
    this.#keyCache?.delete(accessKeyId);
    return { accessKeyId, accessKeySecret, createdAt };
  }

  async listAccessKeys(principal: string): Promise<Array<{ access_key_id: string; created_at: number }>> {
    await this.getPrincipal(principal);
    return this.#db
      .selectFrom("access_keys")
      .select(["access_key_id", "created_at"])
      .where("principal_name", "=", principal)
      .orderBy("created_at")
      .execute();
  }

  /** Deletes an access key (of `principal` when given: RAM names both). */
  async deleteAccessKey(accessKeyId: string, principal?: string): Promise<void> {
    let q = this.#db.deleteFrom("access_keys").where("access_key_id", "=", accessKeyId);
    if (principal !== undefined) q = q.where("principal_name", "=", principal);
    const res = await q.executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1)
      throw iamError("EntityNotExist.User.AccessKey", `access key ${accessKeyId} does not exist`);
    this.#invalidate();
  }

  // ---- policies ----

  async createPolicy(name: string, document: string): Promise<PolicyRow> {
    if (!POLICY_NAME.test(name)) throw iamError("InvalidParameter", "PolicyName: 1-128 of [a-zA-Z0-9-]");
    if (isBuiltinPolicyName(name))
      throw iamError("EntityAlreadyExists.Policy", `policy ${name} is a system policy`);
    try {
      parsePolicyDocument(document);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw iamError("InvalidParameter.PolicyDocument", `PolicyDocument: ${message}`, { cause: err });
    }
    const createdAt = this.#clock.now();
    const res = await this.#db
      .insertInto("policies")
      .values({ policy_name: name, document, created_at: createdAt })
      .onConflict((oc) => oc.column("policy_name").doNothing())
      .executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 0n) !== 1)
      throw iamError("EntityAlreadyExists.Policy", `policy ${name} already exists`);
    return { name, builtin: false, document, createdAt };
  }

  async getPolicy(name: string): Promise<PolicyRow> {
    if (isBuiltinPolicyName(name))
      return { name, builtin: true, document: JSON.stringify(BUILTIN_POLICIES[name]), createdAt: 0 };
    const row = await this.#db
      .selectFrom("policies")
      .selectAll()
      .where("policy_name", "=", name)
      .executeTakeFirst();
    if (row === undefined) throw iamError("EntityNotExist.Policy", `policy ${name} does not exist`);
    return { name, builtin: false, document: row.document, createdAt: Number(row.created_at) };
  }

  async listPolicies(): Promise<PolicyRow[]> {
    const rows = await this.#db.selectFrom("policies").selectAll().orderBy("policy_name").execute();
    return [
      ...Object.entries(BUILTIN_POLICIES as Record<string, PolicyDocument>).map(([name, doc]) => ({
        name,
        builtin: true,
        document: JSON.stringify(doc),
        createdAt: 0,
      })),
      ...rows.map((r) => ({
        name: r.policy_name,
        builtin: false,
        document: r.document,
        createdAt: Number(r.created_at),
      })),
    ];
  }

  async deletePolicy(name: string): Promise<void> {
    if (isBuiltinPolicyName(name))
      throw iamError("Unsupported.SystemPolicy", `policy ${name} is a system policy and cannot be deleted`);
    const attached = await this.#db
      .selectFrom("attachments")
      .select("principal_name")
      .where("policy_name", "=", name)
      .executeTakeFirst();
    if (attached !== undefined)
      throw iamError(
        "DeleteConflict.Policy.Attachment",
        `policy ${name} is attached to ${attached.principal_name}; detach it first`,
      );
    const res = await this.#db.deleteFrom("policies").where("policy_name", "=", name).executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1)
      throw iamError("EntityNotExist.Policy", `policy ${name} does not exist`);
  }

  async attachPolicy(
    policyName: string,
    principal: string,
    type?: PrincipalType | readonly PrincipalType[],
  ): Promise<void> {
    await this.getPrincipal(principal, type);
    await this.getPolicy(policyName);
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
      throw iamError(
        "EntityNotExist.PolicyAttachment",
        `policy ${policyName} is not attached to ${principal}`,
      );
    this.#invalidate();
  }

  /** The policies attached to a principal, with when. */
  async listAttachedPolicies(principal: string): Promise<Array<PolicyRow & { attachedAt: number }>> {
    await this.getPrincipal(principal);
    const rows = await this.#db
      .selectFrom("attachments")
      .select(["policy_name", "created_at"])
      .where("principal_name", "=", principal)
      .orderBy("policy_name")
      .execute();
    const out: Array<PolicyRow & { attachedAt: number }> = [];
    for (const r of rows)
      out.push({ ...(await this.getPolicy(r.policy_name)), attachedAt: Number(r.created_at) });
    return out;
  }
}

/** A valid hash of no password anyone knows, verified for unknown users (same cost as a real one). */
const DUMMY_HASH = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

function checkTrustPolicy(text: string): void {
  try {
    parseTrustPolicy(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw iamError("InvalidParameter.PolicyDocument", message, { cause: err });
  }
}

function checkMaxSessionDuration(s: number): void {
  const { min, max } = MAX_SESSION_DURATION_RANGE;
  if (!Number.isInteger(s) || s < min || s > max)
    throw iamError("InvalidParameter", `MaxSessionDuration: must be ${min}-${max} seconds`);
}

export type { PolicyDecision };
