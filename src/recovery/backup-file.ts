/**
 * The KMS backup file, format 1. Written by hand because its bytes are the format:
 *
 *   line 1   `atrest-kms-backup\n`                      magic
 *   line 2   header JSON, one line, `\n`               self-describing: format, KDF + salt, key check,
 *                                                      counts, HSM key references, audit chain head
 *   frames   u32 BE n ‖ ciphertext (n bytes) ‖ tag(16)   AES-256-GCM of the payload, 64 KiB per frame
 *   trailer  `sha256:<64 hex>\n`                        SHA-256 of everything before it
 *
 * The payload is JSON lines (backup-records.ts), cut into frames at any byte. Frame i's nonce is
 * noncePrefix(7, random per backup) ‖ u32 BE i ‖ u8 last (1 on the final frame only), and every
 * frame's AAD is SHA-256(line 1 ‖ line 2): frames cannot be reordered, dropped, moved to another
 * backup or cut off at the end, and the header cannot be changed, without the tag failing. The
 * trailer is an unkeyed checksum on top: it tells a damaged or truncated file ("data-corrupt") apart
 * from a wrong passphrase ("unauthenticated") before any key is derived.
 *
 * A file once written in a format is never read differently: a new layout gets a new `format`.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, type Hash } from "node:crypto";
import { closeSync, fsyncSync, linkSync, openSync, statSync, unlinkSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import { AtrestError } from "../common/errors.js";
import { checkKdfParams, KEY_CHECK_BYTES, SALT_BYTES } from "./backup-key.js";

export const BACKUP_MAGIC = "atrest-kms-backup\n";
export const BACKUP_FORMAT = 1;
export const FRAME_PLAINTEXT_BYTES = 64 * 1024;
const MAX_FRAME_BYTES = 1024 * 1024;
const MAX_HEADER_BYTES = 1024 * 1024;
const NONCE_PREFIX_BYTES = 7;
const TAG_BYTES = 16;
const TRAILER_PREFIX = "sha256:";
const TRAILER_BYTES = TRAILER_PREFIX.length + 64 + 1;

const b64 = (bytes?: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]*={0,2}$/)
    .refine((s) => bytes === undefined || Buffer.from(s, "base64").length === bytes, {
      message: `must be ${bytes ?? 0} base64 bytes`,
    });

const count = z.number().int().nonnegative();

const headerSchema = z.strictObject({
  format: z.literal(BACKUP_FORMAT),
  backupId: z.string().uuid(),
  createdAt: z.string(),
  source: z.strictObject({
    accountId: z.string(),
    region: z.string(),
    database: z.enum(["sqlite", "postgres"]),
    /** The key store's schema migrations when it was read. */
    schema: z.array(z.string()),
  }),
  kdf: z.discriminatedUnion("name", [
    z.strictObject({ name: z.literal("scrypt"), logN: z.number(), r: z.number(), p: z.number() }),
    z.strictObject({ name: z.literal("key-file") }),
  ]),
  salt: b64(SALT_BYTES),
  keyCheck: b64(KEY_CHECK_BYTES),
  cipher: z.literal("AES-256-GCM"),
  noncePrefix: b64(NONCE_PREFIX_BYTES),
  frameBytes: z.number().int().positive().max(MAX_FRAME_BYTES),
  summary: z.strictObject({
    keys: count,
    keyVersions: count,
    softwareKeyVersions: count,
    hsmKeyVersions: count,
    aliases: count,
    tags: count,
    principals: count,
    accessKeys: count,
    policies: count,
    attachments: count,
    nonces: count,
    auditRecords: count,
    files: count,
  }),
  /** HSM-protected key versions: named here (no passphrase needed to see which token a restore needs). */
  hsm: z.array(
    z.strictObject({
      keyId: z.string(),
      keyVersionId: z.string(),
      tokenLabel: z.string(),
      ckaLabel: z.string(),
      ckaId: z.string(),
    }),
  ),
  auditHead: z.strictObject({ seq: count, hash: z.string().regex(/^[0-9a-f]{64}$/) }),
});

export type BackupHeader = z.infer<typeof headerSchema>;
export type BackupSummary = BackupHeader["summary"];
export type HsmKeyReference = BackupHeader["hsm"][number];

function corrupt(path: string, why: string, cause?: unknown): AtrestError {
  return new AtrestError(
    "data-corrupt",
    `${path} is not a usable KMS backup: ${why}`,
    cause === undefined ? {} : { cause },
  );
}

function frameNonce(prefix: Buffer, index: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeUInt32BE(index, NONCE_PREFIX_BYTES);
  n[11] = last ? 1 : 0;
  return n;
}

function headerAad(headerLine: Buffer): Buffer {
  return createHash("sha256").update(BACKUP_MAGIC).update(headerLine).digest();
}

/** Fields of a new header that the writer fills in (salt and nonce prefix are fresh per backup). */
export type NewBackupHeader = Omit<BackupHeader, "format" | "cipher" | "noncePrefix" | "frameBytes">;

export function newSalt(): Buffer {
  return randomBytes(SALT_BYTES);
}

/**
 * Streams a backup into `<dir>/.<name>.<random>.tmp` (0600) and links it to `path` on `finish()`, so a
 * crash or an error leaves no half file under the name, and an existing file is never overwritten.
 */
export class BackupFileWriter {
  readonly #handle: FileHandle;
  readonly #tmp: string;
  readonly #path: string;
  readonly #key: Buffer;
  readonly #aad: Buffer;
  readonly #prefix: Buffer;
  readonly #hash: Hash = createHash("sha256");
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #frames = 0;
  #done = false;

  private constructor(
    handle: FileHandle,
    tmp: string,
    path: string,
    key: Buffer,
    aad: Buffer,
    prefix: Buffer,
  ) {
    this.#handle = handle;
    this.#tmp = tmp;
    this.#path = path;
    this.#key = Buffer.from(key);
    this.#aad = aad;
    this.#prefix = prefix;
  }

  static async create(
    path: string,
    header: NewBackupHeader,
    encryptionKey: Buffer,
  ): Promise<BackupFileWriter> {
    try {
      statSync(path);
      throw new AtrestError("already-exists", `--out: ${path} exists; refusing to overwrite a backup`);
    } catch (err) {
      if (err instanceof AtrestError) throw err;
    }
    const prefix = randomBytes(NONCE_PREFIX_BYTES);
    const full: BackupHeader = {
      format: BACKUP_FORMAT,
      ...header,
      cipher: "AES-256-GCM",
      noncePrefix: prefix.toString("base64"),
      frameBytes: FRAME_PLAINTEXT_BYTES + TAG_BYTES,
    };
    headerSchema.parse(full);
    const headerLine = Buffer.from(JSON.stringify(full) + "\n", "utf8");
    const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
    let handle: FileHandle;
    try {
      handle = await open(tmp, "wx", 0o600);
    } catch (err) {
      throw new AtrestError(
        "invalid-argument",
        `--out: cannot create a file in ${dirname(path)} (${(err as NodeJS.ErrnoException).code ?? "error"})`,
        { cause: err },
      );
    }
    const w = new BackupFileWriter(handle, tmp, path, encryptionKey, headerAad(headerLine), prefix);
    await w.#write(Buffer.from(BACKUP_MAGIC, "utf8"));
    await w.#write(headerLine);
    return w;
  }

  async #write(bytes: Buffer): Promise<void> {
    this.#hash.update(bytes);
    await this.#handle.write(bytes);
  }

  async #frame(plaintext: Buffer, last: boolean): Promise<void> {
    const cipher = createCipheriv("aes-256-gcm", this.#key, frameNonce(this.#prefix, this.#frames, last));
    cipher.setAAD(this.#aad);
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    plaintext.fill(0);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(ct.length);
    await this.#write(Buffer.concat([len, ct, cipher.getAuthTag()]));
    this.#frames += 1;
  }

  /** Appends one payload record (a JSON line). */
  async record(value: unknown): Promise<void> {
    const line = Buffer.from(JSON.stringify(value) + "\n", "utf8");
    this.#pending.push(line);
    this.#pendingBytes += line.length;
    while (this.#pendingBytes >= FRAME_PLAINTEXT_BYTES) {
      const all = Buffer.concat(this.#pending);
      for (const b of this.#pending) b.fill(0);
      const rest = Buffer.from(all.subarray(FRAME_PLAINTEXT_BYTES));
      await this.#frame(Buffer.from(all.subarray(0, FRAME_PLAINTEXT_BYTES)), false);
      all.fill(0);
      this.#pending = [rest];
      this.#pendingBytes = rest.length;
    }
  }

  /** Writes the final frame and the trailer, syncs, and puts the file under its name. */
  async finish(): Promise<{ path: string; sha256: string; bytes: number }> {
    const rest = Buffer.concat(this.#pending);
    for (const b of this.#pending) b.fill(0);
    this.#pending = [];
    await this.#frame(rest, true);
    const sha256 = this.#hash.digest("hex");
    const trailer = Buffer.from(`${TRAILER_PREFIX}${sha256}\n`, "utf8");
    await this.#handle.write(trailer);
    await this.#handle.sync();
    const { size } = await this.#handle.stat();
    await this.#handle.close();
    this.#key.fill(0);
    this.#done = true;
    try {
      linkSync(this.#tmp, this.#path); // fails when the name exists: never overwrite
    } catch (err) {
      unlinkSync(this.#tmp);
      if ((err as NodeJS.ErrnoException).code === "EEXIST")
        throw new AtrestError(
          "already-exists",
          `--out: ${this.#path} exists; refusing to overwrite a backup`,
        );
      throw err;
    }
    unlinkSync(this.#tmp);
    fsyncDir(dirname(this.#path));
    return { path: this.#path, sha256, bytes: size };
  }

  /** Removes the temp file (after an error). */
  async abort(): Promise<void> {
    this.#key.fill(0);
    if (!this.#done) {
      this.#done = true;
      await this.#handle.close().catch(() => undefined);
    }
    try {
      unlinkSync(this.#tmp);
    } catch {
      // already gone
    }
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      // Directory fsync makes the new name durable; not every filesystem allows it.
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // best effort
  }
}

/** A backup whose checksum and header have been checked; its payload is not opened yet. */
export interface OpenedBackup {
  readonly path: string;
  readonly header: BackupHeader;
  readonly sha256: string;
  readonly bytes: number;
  /** Where the frames start and end. */
  readonly framesStart: number;
  readonly framesEnd: number;
  readonly aad: Buffer;
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/**
 * Checks the file as a whole before anything else: magic, trailer checksum (so any flipped byte or a
 * cut-off end is "damaged or truncated"), then the header's shape. No key is needed.
 */
export async function openBackupFile(path: string): Promise<OpenedBackup> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    throw new AtrestError(
      "invalid-argument",
      `cannot read the backup ${path} (${(err as NodeJS.ErrnoException).code ?? "error"})`,
      { cause: err },
    );
  }
  try {
    const { size } = await handle.stat();
    const magic = await readAt(handle, 0, BACKUP_MAGIC.length);
    if (magic.toString("latin1") !== BACKUP_MAGIC)
      throw corrupt(path, "it does not start like an atrest KMS backup");
    if (size < BACKUP_MAGIC.length + TRAILER_BYTES) throw corrupt(path, "the file is truncated");
    const trailer = (await readAt(handle, size - TRAILER_BYTES, TRAILER_BYTES)).toString("latin1");
    const m = /^sha256:([0-9a-f]{64})\n$/.exec(trailer);
    if (m === null) throw corrupt(path, "the file is truncated or damaged (no checksum at its end)");
    const hash = createHash("sha256");
    const chunk = 1 << 20;
    for (let at = 0; at < size - TRAILER_BYTES; at += chunk)
      hash.update(await readAt(handle, at, Math.min(chunk, size - TRAILER_BYTES - at)));
    const sha256 = hash.digest("hex");
    if (sha256 !== m[1]) throw corrupt(path, "the file is damaged (its checksum does not match)");
    // The header line: up to the first newline after the magic.
    const head = await readAt(
      handle,
      BACKUP_MAGIC.length,
      Math.min(MAX_HEADER_BYTES, size - BACKUP_MAGIC.length),
    );
    const nl = head.indexOf(0x0a);
    if (nl < 0) throw corrupt(path, "its header line is missing or too long");
    const headerLine = head.subarray(0, nl + 1);
    let header: BackupHeader;
    try {
      const parsed: unknown = JSON.parse(headerLine.toString("utf8"));
      const format = (parsed as { format?: unknown } | null)?.format;
      if (typeof format === "number" && format !== BACKUP_FORMAT)
        throw new AtrestError(
          "failed-precondition",
          `${path} is a format ${format} backup; this atrest reads format ${BACKUP_FORMAT} (use a newer atrest)`,
        );
      header = headerSchema.parse(parsed);
    } catch (err) {
      if (err instanceof AtrestError) throw err;
      throw corrupt(path, "its header does not parse", err);
    }
    checkKdfParams(header.kdf);
    return {
      path,
      header,
      sha256,
      bytes: size,
      framesStart: BACKUP_MAGIC.length + headerLine.length,
      framesEnd: size - TRAILER_BYTES,
      aad: headerAad(Buffer.from(headerLine)),
    };
  } finally {
    await handle.close();
  }
}

/**
 * Decrypts the payload frame by frame and yields its records (parsed JSON). Throws "data-corrupt" at
 * the first frame that does not authenticate, is out of order, or when the final frame is missing.
 * Plaintext buffers are wiped once parsed.
 */
export async function* readBackupRecords(
  opened: OpenedBackup,
  encryptionKey: Buffer,
): AsyncGenerator<unknown> {
  const handle = await open(opened.path, "r");
  const prefix = Buffer.from(opened.header.noncePrefix, "base64");
  const tampered = (why: string) =>
    new AtrestError(
      "data-corrupt",
      `${opened.path} failed authentication (${why}); the backup was tampered with`,
    );
  try {
    let at = opened.framesStart;
    let index = 0;
    let carry = "";
    let sawLast = false;
    while (at < opened.framesEnd) {
      if (sawLast) throw tampered("data after the final frame");
      const lenBuf = await readAt(handle, at, 4);
      if (lenBuf.length < 4) throw tampered("a frame is cut off");
      const n = lenBuf.readUInt32BE(0);
      if (n + TAG_BYTES > opened.header.frameBytes || at + 4 + n + TAG_BYTES > opened.framesEnd)
        throw tampered("a frame length is out of range");
      const body = await readAt(handle, at + 4, n + TAG_BYTES);
      at += 4 + n + TAG_BYTES;
      const last = at === opened.framesEnd;
      const decipher = createDecipheriv("aes-256-gcm", encryptionKey, frameNonce(prefix, index, last));
      decipher.setAAD(opened.aad);
      decipher.setAuthTag(body.subarray(n));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(body.subarray(0, n)), decipher.final()]);
      } catch (err) {
        throw new AtrestError(
          "data-corrupt",
          `${opened.path} failed authentication at frame ${index}; the backup was tampered with`,
          { cause: err },
        );
      }
      index += 1;
      sawLast = last;
      const text = carry + plain.toString("utf8");
      plain.fill(0);
      const lines = text.split("\n");
      carry = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "") continue;
        try {
          yield JSON.parse(line) as unknown;
        } catch (err) {
          throw new AtrestError("data-corrupt", `${opened.path}: a payload record does not parse`, {
            cause: err,
          });
        }
      }
    }
    if (!sawLast) throw tampered("the final frame is missing");
    if (carry !== "") throw new AtrestError("data-corrupt", `${opened.path}: the payload ends mid-record`);
  } finally {
    await handle.close();
  }
}
