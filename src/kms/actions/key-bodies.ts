import { isoSeconds } from "../key-params.js";
import type { EncryptResult, KeyRow, KeyVersionRow } from "../keys/index.js";
import type { ActionContext } from "./action-spec.js";
import { keyArn } from "./define-action.js";

/** A key's `KeyMetadata` as Alibaba's DescribeKey / CreateKey answer it. */
export function keyMetadata(
  row: KeyRow,
  ctx: Pick<ActionContext, "region" | "accountId">,
): Record<string, unknown> {
  const md: Record<string, unknown> = {
    KeyId: row.key_id,
    Arn: keyArn(ctx, row.key_id),
    KeyState: row.key_state,
    KeySpec: row.key_spec,
    KeyUsage: row.key_usage,
    Origin: row.origin,
    ProtectionLevel: row.protection_level,
    Description: row.description,
    Creator: row.creator,
    CreationDate: isoSeconds(row.created_at),
    PrimaryKeyVersion: row.primary_version_id,
    AutomaticRotation: row.automatic_rotation,
    DeletionProtection: row.deletion_protection === 1 ? "Enabled" : "Disabled",
    MaterialExpireTime: "",
  };
  if (row.last_rotation_at !== null) md.LastRotationDate = isoSeconds(row.last_rotation_at);
  if (row.rotation_interval_s !== null) md.RotationInterval = `${row.rotation_interval_s}s`;
  if (row.next_rotation_at !== null) md.NextRotationDate = isoSeconds(row.next_rotation_at);
  if (row.delete_at !== null) md.DeleteDate = isoSeconds(row.delete_at);
  if (row.deletion_protection === 1) md.DeletionProtectionDescription = row.deletion_protection_description;
  return md;
}

export function versionBody(v: KeyVersionRow): Record<string, unknown> {
  return { KeyId: v.key_id, KeyVersionId: v.key_version_id, CreationDate: isoSeconds(v.created_at) };
}

/** What every sealing action answers (Encrypt, GenerateDataKey*, ReEncrypt). */
export function sealedBody(res: EncryptResult): Record<string, unknown> {
  return { CiphertextBlob: res.ciphertextBlob, KeyId: res.keyId, KeyVersionId: res.keyVersionId };
}
