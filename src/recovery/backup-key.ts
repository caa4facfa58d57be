/**
 * The key a KMS backup is sealed with: from a passphrase file through scrypt (memory-hard; node's
 * built-in `crypto.scrypt`, so no dependency), or from a key file holding 32 random bytes. Either way
 * the file's secret becomes a master key, from which HKDF derives this backup's encryption key and a
 * key-check value (salted per backup, so two backups under one passphrase share no key). The
 * key-check lets a restore say "wrong passphrase" instead of "tampered" — it reveals nothing about
 * the encryption key (HKDF outputs for different labels are independent).
 */
import { hkdfSync, scrypt, timingSafeEqual } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { AtrestError } from "../common/errors.js";

export const BACKUP_KEY_BYTES = 32;
export const KEY_CHECK_BYTES = 16;
export const SALT_BYTES = 16;

/**
 * Default scrypt cost: N = 2^17, r = 8, p = 1 — 128 MiB and about half a second per try, OWASP's
 * recommended minimum for scrypt. `--insecure-low-kdf-cost` (tests, benchmarks) uses 2^12 instead.
 */
export const DEFAULT_SCRYPT = Object.freeze({ logN: 17, r: 8, p: 1 });
export const INSECURE_LOW_SCRYPT = Object.freeze({ logN: 12, r: 8, p: 1 });
/** What a backup's header may ask for: enough headroom, and a bound so a crafted header cannot exhaust memory. */
const SCRYPT_LIMITS = { logN: [10, 20], r: [1, 16], p: [1, 4] } as const;
export const MIN_PASSPHRASE_CHARS = 12;

// HKDF labels: never change them (old backups must keep opening).
const ENCRYPTION_LABEL = "atrest-kms-backup/v1 encryption";
const KEY_CHECK_LABEL = "atrest-kms-backup/v1 key check";

export type KdfParams =
  | { readonly name: "scrypt"; readonly logN: number; readonly r: number; readonly p: number }
  | { readonly name: "key-file" };

/** The secret that opens a backup, as read from the file the user named. */
export type BackupSecret =
  | { readonly kind: "passphrase"; readonly passphrase: Buffer; readonly file: string }
  | { readonly kind: "key-file"; readonly key: Buffer; readonly file: string };

export interface DerivedBackupKey {
  readonly encryptionKey: Buffer;
  readonly keyCheck: Buffer;
}

/** Refuses a secret file others can read, as the KMS refuses its root key. */
function readPrivateFile(path: string, flag: string): Buffer {
  let mode: number;
  let bytes: Buffer;
  try {
    mode = statSync(path).mode;
    bytes = readFileSync(path);
  } catch (err) {
    throw new AtrestError(
      "invalid-argument",
      `${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? "error"})`,
      { cause: err },
    );
  }
  if ((mode & 0o077) !== 0)
    throw new AtrestError(
      "invalid-argument",
      `${flag}: ${path} must not be readable by group or others (chmod 600)`,
    );
  return bytes;
}

/**
 * `--passphrase-file F` or `--key-file F` (exactly one). A passphrase is the file's text without one
 * trailing newline; a key file holds 32 raw bytes or their base64 (like the KMS root key:
 * `openssl rand -base64 32 > F`).
 */
export function readBackupSecret(flags: { passphraseFile?: string; keyFile?: string }): BackupSecret {
  if ((flags.passphraseFile === undefined) === (flags.keyFile === undefined))
    throw new AtrestError(
      "invalid-argument",
      "give exactly one of --passphrase-file FILE or --key-file FILE",
    );
  if (flags.passphraseFile !== undefined) {
    const raw = readPrivateFile(flags.passphraseFile, "--passphrase-file");
    let end = raw.length;
    if (raw[end - 1] === 0x0a) end -= 1;
    if (raw[end - 1] === 0x0d) end -= 1;
    const passphrase = Buffer.from(raw.subarray(0, end));
    raw.fill(0);
    if ([...passphrase.toString("utf8")].length < MIN_PASSPHRASE_CHARS) {
      passphrase.fill(0);
      throw new AtrestError(
        "invalid-argument",
        `--passphrase-file: the passphrase must be at least ${MIN_PASSPHRASE_CHARS} characters`,
      );
    }
    return { kind: "passphrase", passphrase, file: flags.passphraseFile };
  }
  const file = flags.keyFile!;
  const raw = readPrivateFile(file, "--key-file");
  let key: Buffer | undefined;
  if (raw.length === BACKUP_KEY_BYTES) key = Buffer.from(raw);
  else {
    const text = raw.toString("latin1").trim();
    const decoded = Buffer.from(text, "base64");
    if (decoded.length === BACKUP_KEY_BYTES && decoded.toString("base64") === text) key = decoded;
  }
  raw.fill(0);
  if (key === undefined)
    throw new AtrestError(
      "invalid-argument",
      `--key-file: ${file} must hold ${BACKUP_KEY_BYTES} bytes, raw or base64 (openssl rand -base64 32)`,
    );
  return { kind: "key-file", key, file };
}

/** The header's KDF parameters for a new backup under this secret. */
export function kdfFor(secret: BackupSecret, options: { insecureLowKdfCost?: boolean } = {}): KdfParams {
  if (secret.kind === "key-file") return { name: "key-file" };
  const cost = options.insecureLowKdfCost === true ? INSECURE_LOW_SCRYPT : DEFAULT_SCRYPT;
  return { name: "scrypt", ...cost };
}

/** Checks KDF parameters read from a header (they are not yet authenticated). */
export function checkKdfParams(kdf: KdfParams): void {
  if (kdf.name === "key-file") return;
  for (const field of ["logN", "r", "p"] as const) {
    const [min, max] = SCRYPT_LIMITS[field];
    const v = kdf[field];
    if (!Number.isInteger(v) || v < min || v > max)
      throw new AtrestError(
        "data-corrupt",
        `the backup's header asks for scrypt ${field} = ${String(v)}, outside ${min}..${max}`,
      );
  }
}

function scryptAsync(passphrase: Buffer, salt: Buffer, kdf: { logN: number; r: number; p: number }) {
  const N = 2 ** kdf.logN;
  return new Promise<Buffer>((resolve, reject) =>
    scrypt(
      passphrase,
      salt,
      BACKUP_KEY_BYTES,
      { N, r: kdf.r, p: kdf.p, maxmem: 128 * N * kdf.r * kdf.p + (32 << 20) },
      (err, key) => (err === null ? resolve(key) : reject(err)),
    ),
  );
}

/** The backup's keys from the secret, the header's KDF parameters and its salt. */
export async function deriveBackupKey(
  secret: BackupSecret,
  kdf: KdfParams,
  salt: Buffer,
): Promise<DerivedBackupKey> {
  if (secret.kind !== (kdf.name === "scrypt" ? "passphrase" : "key-file"))
    throw new AtrestError(
      "invalid-argument",
      kdf.name === "scrypt"
        ? "this backup is sealed with a passphrase: give --passphrase-file, not --key-file"
        : "this backup is sealed with a key file: give --key-file, not --passphrase-file",
    );
  checkKdfParams(kdf);
  const master =
    secret.kind === "passphrase" && kdf.name === "scrypt"
      ? await scryptAsync(secret.passphrase, salt, kdf)
      : Buffer.from(secret.kind === "key-file" ? secret.key : Buffer.alloc(0));
  try {
    return {
      encryptionKey: Buffer.from(hkdfSync("sha256", master, salt, ENCRYPTION_LABEL, BACKUP_KEY_BYTES)),
      keyCheck: Buffer.from(hkdfSync("sha256", master, salt, KEY_CHECK_LABEL, KEY_CHECK_BYTES)),
    };
  } finally {
    master.fill(0);
  }
}

/** Constant-time comparison of the derived key-check value with the header's. */
export function keyCheckMatches(derived: DerivedBackupKey, expected: Buffer): boolean {
  return expected.length === KEY_CHECK_BYTES && timingSafeEqual(derived.keyCheck, expected);
}

export function wipeBackupSecret(secret: BackupSecret): void {
  if (secret.kind === "passphrase") secret.passphrase.fill(0);
  else secret.key.fill(0);
}
