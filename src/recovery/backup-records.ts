/**
 * The payload of a KMS backup: one JSON record per line, each tagged by `t`. Rows keep the key store's
 * column names (src/kms/store/schema.ts) so a record reads like the row it came from; secrets appear
 * here unwrapped from the root key — SOFTWARE key material (`material`) and access key secrets — and
 * are protected by the backup's encryption (backup-file.ts), never by anything weaker. HSM key
 * versions carry only their token reference (`hsmRef`): their keys never leave the token.
 *
 * Record layout, version 1: a new field or record type gets a new format in the header, and restore
 * keeps reading this one.
 */
import { z } from "zod";
import { AtrestError } from "../common/errors.js";

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const ms = z.number().int();
const nullableMs = ms.nullable();

export const keyRecord = z.strictObject({
  t: z.literal("key"),
  key_id: z.string().min(1),
  description: z.string(),
  key_spec: z.string(),
  key_usage: z.string(),
  origin: z.string(),
  protection_level: z.enum(["SOFTWARE", "HSM"]),
  key_state: z.enum(["Enabled", "Disabled", "PendingDeletion"]),
  creator: z.string(),
  created_at: ms,
  primary_version_id: z.string().min(1),
  last_rotation_at: nullableMs,
  automatic_rotation: z.string(),
  rotation_interval_s: nullableMs,
  next_rotation_at: nullableMs,
  delete_at: nullableMs,
  deletion_protection: z.number().int(),
  deletion_protection_description: z.string(),
  generation: z.number().int(),
});

export const keyVersionRecord = z
  .strictObject({
    t: z.literal("keyVersion"),
    key_version_id: z.string().min(1),
    key_id: z.string().min(1),
    created_at: ms,
    protection_level: z.enum(["SOFTWARE", "HSM"]),
    /** SOFTWARE: the 32-byte AES key, base64. Secret. */
    material: b64.optional(),
    /** HSM: the stored token reference (JSON text), as the key store keeps it. */
    hsmRef: z.string().optional(),
  })
  .refine((r) => (r.protection_level === "SOFTWARE") === (r.material !== undefined), {
    message: "a SOFTWARE key version carries material, an HSM one does not",
  })
  .refine((r) => (r.protection_level === "HSM") === (r.hsmRef !== undefined), {
    message: "an HSM key version carries its token reference",
  });

export const aliasRecord = z.strictObject({
  t: z.literal("alias"),
  alias_name: z.string().min(1),
  key_id: z.string().min(1),
  created_at: ms,
});

export const tagRecord = z.strictObject({
  t: z.literal("tag"),
  key_id: z.string().min(1),
  tag_key: z.string(),
  tag_value: z.string(),
});

export const principalRecord = z.strictObject({
  t: z.literal("principal"),
  principal_name: z.string().min(1),
  created_at: ms,
});

export const accessKeyRecord = z.strictObject({
  t: z.literal("accessKey"),
  access_key_id: z.string().min(1),
  principal_name: z.string().min(1),
  created_at: ms,
  /** Secret. */
  secret: z.string().min(1),
});

export const policyRecord = z.strictObject({
  t: z.literal("policy"),
  policy_name: z.string().min(1),
  document: z.string(),
  created_at: ms,
});

export const attachmentRecord = z.strictObject({
  t: z.literal("attachment"),
  policy_name: z.string().min(1),
  principal_name: z.string().min(1),
  created_at: ms,
});

/** A SignatureNonce still inside its replay window: restored so a replay stays refused. */
export const nonceRecord = z.strictObject({
  t: z.literal("nonce"),
  digest: b64,
  expires_at: ms,
});

export const auditRecord = z.strictObject({
  t: z.literal("audit"),
  seq: z.number().int().positive(),
  event_time: ms,
  request_id: z.string(),
  principal: z.string(),
  access_key_id: z.string(),
  source_ip: z.string(),
  action: z.string(),
  key_id: z.string(),
  key_version_id: z.string(),
  outcome: z.string(),
  error_code: z.string(),
  client_uid: z.string(),
  // Added with audit migration 0003 (summaries of refused requests, forced overrides); absent in
  // backups made before it, where every record is one request, not forced.
  request_count: z.number().int().positive().default(1),
  forced: z.number().int().min(0).max(1).default(0),
  prev_hash: z.string(),
  hash: z.string(),
});

/**
 * The data dir's files other than the root key and the database: the ARN config, the admin
 * credentials and the TLS CA + serving certificate, so clients of the restored KMS keep working.
 */
export const DATA_DIR_FILES = [
  "kms.json",
  "credentials.json",
  "tls/ca.crt",
  "tls/tls.crt",
  "tls/tls.key",
] as const;

export const fileRecord = z.strictObject({
  t: z.literal("file"),
  path: z.enum(DATA_DIR_FILES),
  mode: z.number().int().min(0).max(0o777),
  /** base64; credentials.json and tls.key are secret. */
  content: b64,
});

export const endRecord = z.strictObject({ t: z.literal("end"), records: z.number().int().nonnegative() });

const SCHEMAS = {
  key: keyRecord,
  keyVersion: keyVersionRecord,
  alias: aliasRecord,
  tag: tagRecord,
  principal: principalRecord,
  accessKey: accessKeyRecord,
  policy: policyRecord,
  attachment: attachmentRecord,
  nonce: nonceRecord,
  audit: auditRecord,
  file: fileRecord,
  end: endRecord,
} as const;

export type RecordType = keyof typeof SCHEMAS;
export type BackupRecord = { [T in RecordType]: z.infer<(typeof SCHEMAS)[T]> }[RecordType];

/** Validates one payload record by its `t`; throws "data-corrupt" naming the record and the rule it breaks. */
export function parseBackupRecord(value: unknown, index: number): BackupRecord {
  const t = (value as { t?: unknown } | null)?.t;
  const schema = typeof t === "string" ? (SCHEMAS as Record<string, z.ZodType | undefined>)[t] : undefined;
  if (schema === undefined)
    throw new AtrestError("data-corrupt", `backup record ${index} has an unknown type ${JSON.stringify(t)}`);
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    // The path and rule only: never the value (it may be key material).
    throw new AtrestError(
      "data-corrupt",
      `backup record ${index} (${t as string}) is invalid at ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "invalid"}`,
    );
  }
  return r.data as BackupRecord;
}

export type KeyRecord = z.infer<typeof keyRecord>;
export type KeyVersionRecord = z.infer<typeof keyVersionRecord>;
export type AccessKeyRecord = z.infer<typeof accessKeyRecord>;
export type AuditRecordLine = z.infer<typeof auditRecord>;
export type FileRecord = z.infer<typeof fileRecord>;
