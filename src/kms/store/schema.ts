/**
 * The KMS key store's tables (Kysely types). Times are integer milliseconds since the epoch; booleans
 * are 0/1 integers so the same schema works on SQLite and PostgreSQL. Secrets are never stored in the
 * clear: key material is a `StoredKeyRef` (wrapped by the root key, or an HSM object reference) and
 * access key secrets are wrapped by the root key.
 */
export interface KeysTable {
  key_id: string;
  description: string;
  key_spec: string;
  key_usage: string;
  origin: string;
  protection_level: string;
  key_state: string;
  creator: string;
  created_at: number;
  primary_version_id: string;
  last_rotation_at: number | null;
  automatic_rotation: string;
  rotation_interval_s: number | null;
  next_rotation_at: number | null;
  delete_at: number | null;
  deletion_protection: number;
  deletion_protection_description: string;
  /** Bumped on every change: compare-and-set guard for concurrent instances. */
  generation: number;
}

export interface KeyVersionsTable {
  key_version_id: string;
  key_id: string;
  created_at: number;
  protection_level: string;
  stored_ref: Buffer;
}

export interface AliasesTable {
  alias_name: string;
  key_id: string;
  created_at: number;
}

export interface TagsTable {
  key_id: string;
  tag_key: string;
  tag_value: string;
}

export interface PrincipalsTable {
  principal_name: string;
  created_at: number;
}

export interface AccessKeysTable {
  access_key_id: string;
  principal_name: string;
  /** The secret sealed by the root key (AES-GCM, AAD bound to the access key id). */
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

export interface AuditEventsTable {
  seq: number;
  event_time: number;
  request_id: string;
  principal: string;
  access_key_id: string;
  source_ip: string;
  action: string;
  key_id: string;
  key_version_id: string;
  outcome: string;
  error_code: string;
  client_uid: string;
  /** How many requests the record stands for: 1, or N for a summary of refused attempts (0003). */
  request_count: number;
  /** 1 when the action overrode a refusal with Force=true (atrest extension; 0003). */
  forced: number;
  prev_hash: string;
  hash: string;
}

export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

export interface SchedulerLeasesTable {
  name: string;
  holder: string;
  expires_at: number;
}

export interface KmsDatabase {
  keys: KeysTable;
  key_versions: KeyVersionsTable;
  aliases: AliasesTable;
  tags: TagsTable;
  principals: PrincipalsTable;
  access_keys: AccessKeysTable;
  policies: PoliciesTable;
  attachments: AttachmentsTable;
  nonce_digests: NonceDigestsTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
  scheduler_leases: SchedulerLeasesTable;
}
