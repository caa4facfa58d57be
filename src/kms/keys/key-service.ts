import { systemClock, type Clock } from "../../common/clock.js";
import { systemRandom, type Random } from "../../common/random.js";
import type { EncryptionContext } from "../encryption-context.js";
import type { ProtectionBackend, ProtectionLevel } from "../protection/protection.js";
import type { KmsDb } from "../store/database.js";
import type { ClusterUse } from "./cluster-tags.js";
import * as aliases from "./key-aliases.js";
import * as crypto from "./key-crypto.js";
import * as lifecycle from "./key-lifecycle.js";
import type { KeyChange } from "./key-policy.js";
import { KeyRecords } from "./key-records.js";
import * as sweeps from "./key-sweeps.js";
import * as tags from "./key-tags.js";
import type {
  CreateKeyInput,
  DecryptResult,
  EncryptResult,
  KeyListFilters,
  KeyRow,
  KeyTag,
  KeyVersionRow,
  Page,
  TagInput,
} from "./key-types.js";
import * as versions from "./key-versions.js";

export interface KeyServiceOptions {
  kdb: KmsDb;
  protections: Partial<Record<ProtectionLevel, ProtectionBackend>>;
  clock?: Clock;
  random?: Random;
  /** How long a key's row may be served from memory; another instance's change is seen after this. */
  keyCacheTtlMs?: number;
}

/**
 * Keys, versions, aliases, tags and the scheduler's sweeps on the key store: the one entry point the
 * actions and the scheduler use. Each area is its own module in this folder; the rules every change
 * obeys are in key-policy.ts, and the store access with its caches in key-records.ts.
 */
export class KeyService {
  readonly #rec: KeyRecords;

  constructor(options: KeyServiceOptions) {
    this.#rec = new KeyRecords({
      kdb: options.kdb,
      protections: options.protections,
      clock: options.clock ?? systemClock,
      random: options.random ?? systemRandom,
      keyCacheTtlMs: options.keyCacheTtlMs ?? 1000,
    });
  }

  protection(level: ProtectionLevel): ProtectionBackend {
    return this.#rec.protection(level);
  }

  // ---- reads ----
  resolveKeyId(value: string): Promise<string> {
    return aliases.resolveKeyId(this.#rec, value);
  }
  getKey(keyId: string, options: { fresh?: boolean } = {}): Promise<KeyRow> {
    return this.#rec.getKey(keyId, options);
  }
  getVersion(keyId: string, keyVersionId: string): Promise<KeyVersionRow> {
    return this.#rec.getVersion(keyId, keyVersionId);
  }
  listKeys(page: Page, filters: KeyListFilters = {}): Promise<{ rows: KeyRow[]; total: number }> {
    return lifecycle.listKeys(this.#rec, page, filters);
  }
  listVersions(keyId: string, page: Page): Promise<{ rows: KeyVersionRow[]; total: number }> {
    return versions.listVersions(this.#rec, keyId, page);
  }

  // ---- lifecycle (every change through key-policy.ts) ----
  createKey(input: CreateKeyInput): Promise<KeyRow> {
    return lifecycle.createKey(this.#rec, input);
  }
  /** `overrode`: the clusters whose use of the key a Force=true overrode. */
  changeKey(
    keyId: string,
    change: Exclude<KeyChange, { op: "CreateKeyVersion" }>,
  ): Promise<{ row: KeyRow; overrode: readonly ClusterUse[] }> {
    return lifecycle.changeKey(this.#rec, keyId, change);
  }

  // ---- versions ----
  createKeyVersion(
    keyId: string,
    options: { onlyIfDue?: number } = {},
  ): Promise<{ key: KeyRow; version: KeyVersionRow } | undefined> {
    return versions.createKeyVersion(this.#rec, keyId, options);
  }

  // ---- cryptography ----
  encrypt(keyId: string, plaintext: Buffer, ctx: EncryptionContext): Promise<EncryptResult> {
    return crypto.encrypt(this.#rec, keyId, plaintext, ctx);
  }
  peekBlobKeyId(blob: string): { keyId: string; keyVersionId: string } {
    return crypto.peekBlobKeyId(blob);
  }
  decrypt(blob: string, ctx: EncryptionContext): Promise<DecryptResult> {
    return crypto.decrypt(this.#rec, blob, ctx);
  }

  // ---- aliases ----
  createAlias(aliasName: string, keyId: string): Promise<void> {
    return aliases.createAlias(this.#rec, aliasName, keyId);
  }
  updateAlias(aliasName: string, keyId: string): Promise<void> {
    return aliases.updateAlias(this.#rec, aliasName, keyId);
  }
  deleteAlias(aliasName: string): Promise<void> {
    return aliases.deleteAlias(this.#rec, aliasName);
  }
  listAliases(
    page: Page,
    keyId?: string,
  ): Promise<{ rows: Array<{ alias_name: string; key_id: string }>; total: number }> {
    return aliases.listAliases(this.#rec, page, keyId);
  }

  // ---- tags ----
  tagResource(keyId: string, list: readonly TagInput[]): Promise<void> {
    return tags.tagResource(this.#rec, keyId, list);
  }
  untagResource(keyId: string, tagKeys: readonly string[]): Promise<void> {
    return tags.untagResource(this.#rec, keyId, tagKeys);
  }
  listTags(keyId: string): Promise<KeyTag[]> {
    return tags.listTags(this.#rec, keyId);
  }

  // ---- scheduled work (called by the scheduler) ----
  rotateDueKeys(now: number): Promise<string[]> {
    return sweeps.rotateDueKeys(this.#rec, now);
  }
  purgeDueKeys(now: number): Promise<string[]> {
    return sweeps.purgeDueKeys(this.#rec, now);
  }
}
