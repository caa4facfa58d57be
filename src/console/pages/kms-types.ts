export interface KeyMetadata {
  KeyId: string;
  Arn: string;
  KeyState: string;
  KeySpec: string;
  KeyUsage: string;
  ProtectionLevel: string;
  Description: string;
  CreationDate: string;
  PrimaryKeyVersion: string;
  AutomaticRotation: string;
  RotationInterval?: string;
  DeletionProtection: string;
  DeleteDate?: string;
}

export interface ConsoleKey {
  metadata: KeyMetadata;
  aliases: string[];
  clusters: Array<{ cluster: string; use: string }>;
}

export interface KeyVersion {
  KeyId: string;
  KeyVersionId: string;
  CreationDate: string;
}

/** "2592000s" → 30 (days), as RotationInterval is written. */
export function rotationDays(interval: string | undefined): number | undefined {
  const m = /^(\d+)s$/.exec(interval ?? "");
  return m === null ? undefined : Math.round(Number(m[1]) / 86_400);
}
