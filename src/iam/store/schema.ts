import type { Generated } from "kysely";

/**
 * The identity tables (Kysely types), shared by atrest kms and the control plane: they live in the
 * KMS's database (README "Identity"). Times are integer milliseconds; secrets are never stored in the
 * clear (access key secrets sealed, console passwords as scrypt hashes).
 */
export type PrincipalType = "user" | "role" | "service";

export interface PrincipalsTable {
  principal_name: string;
  created_at: number;
  /** `user` (RAM user), `role` (RAM role, assumed through STS) or `service` (a service's own identity). */
  principal_type: string;
  /** RAM's UserId / RoleId: digits, stable for the principal's life (a new principal of the same name gets a new one). */
  principal_id: string;
  description: string;
  display_name: string;
  /** Users: the console password as `scrypt$N$r$p$salt$hash` (base64), or null without one. */
  password_hash: string | null;
  password_reset_required: number;
  /** Roles: the trust policy (AssumeRolePolicyDocument) JSON. */
  trust_policy: string | null;
  /** Roles: the longest STS session, in seconds (3600..43200). */
  max_session_duration_s: number | null;
}

export interface AccessKeysTable {
  access_key_id: string;
  principal_name: string;
  /** The secret sealed by the identity sealer (AES-GCM, AAD bound to the access key id). */
  secret_wrapped: Buffer;
  created_at: number;
}

export interface PoliciesTable {
  policy_name: string;
  document: string;
  created_at: number;
}

export interface AttachmentsTable {
  policy_name: string;
  principal_name: string;
  created_at: number;
}

/** A used SignatureNonce: `nonceDigest(accessKeyId, nonce)`, remembered until `expires_at`. */
export interface NonceDigestsTable {
  digest: Uint8Array;
  expires_at: number;
}

/**
 * Events of the services other than the KMS (STS, RAM, ActionTrail, the control plane), in
 * ActionTrail's shape: the indexed fields as columns, the whole event record as JSON in `record`.
 */
export interface TrailEventsTable {
  seq: Generated<number>;
  event_id: string;
  event_time: number;
  service_name: string;
  event_name: string;
  event_rw: string;
  /** The user filter's key: the RAM user, or for an assumed role the role, lower-cased. */
  user_key: string;
  user_name: string;
  access_key_id: string;
  resource_type: string;
  resource_name: string;
  error_code: string;
  record: string;
}

/**
 * A user's console session credential (src/iam/sts/user-session.ts): its STS access key id, whose it
 * is and until when; `ended_at` once the user signed out (or the console ended the session), after
 * which its token is refused by every service. The secret is in the sealed token only, never here.
 */
export interface UserSessionsTable {
  access_key_id: string;
  principal_name: string;
  created_at: number;
  expires_at: number;
  ended_at: number | null;
}

export interface IamDatabase {
  principals: PrincipalsTable;
  access_keys: AccessKeysTable;
  policies: PoliciesTable;
  attachments: AttachmentsTable;
  nonce_digests: NonceDigestsTable;
  trail_events: TrailEventsTable;
  iam_user_sessions: UserSessionsTable;
}
