import { LRUCache } from "lru-cache";
import type { ValueOrigin } from "../envelope/transformer.js";

/**
 * Decrypted object bytes by (storage key, modRevision), so that gets and lists of unchanged objects do
 * not decrypt them again — the counterpart of kube-apiserver's watch cache, which serves reads from
 * decoded objects and makes a list cost the same whatever the encryption. The transforming store owns
 * it; nothing else sees it.
 *
 * A (key, modRevision) pair names one immutable stored value, so a hit is always the right plaintext.
 * What can change is the `stale` verdict (a reload, or a KMS v2 key_id rotation): whoever sees such a
 * change calls `clear()`. The generation guards against a decode that started before a clear and ends
 * after it: its verdict may be old, so it is not kept.
 *
 * The plaintext lives only in this process's memory, as it does in kube-apiserver's cache; the byte
 * budget (lru-cache's maxSize) bounds it, the least recently used entries leaving first.
 */
export const DEFAULT_DECODED_CACHE_BYTES = 64 * 1024 * 1024;

export interface DecodedEntry {
  readonly modRevision: number;
  readonly data: Buffer;
  readonly stale: boolean;
  /** How the value was read; absent for a value this process wrote (by the first provider). */
  readonly origin?: ValueOrigin;
}

export class DecodedCache {
  /** Undefined when the budget is 0: nothing is kept. */
  private readonly entries: LRUCache<string, DecodedEntry> | undefined;
  private gen = 0;

  constructor(maxBytes = DEFAULT_DECODED_CACHE_BYTES) {
    const budget = Math.floor(maxBytes);
    this.entries =
      budget > 0
        ? new LRUCache<string, DecodedEntry>({
            maxSize: budget,
            // The plaintext and the key; an entry over the budget is not kept (lru-cache's maxEntrySize).
            sizeCalculation: (entry, key) => Math.max(1, entry.data.length + key.length),
          })
        : undefined;
  }

  /** Take it before decoding or writing; pass it to `set`. */
  get generation(): number {
    return this.gen;
  }

  get(key: string, modRevision: number): DecodedEntry | undefined {
    const e = this.entries?.get(key);
    return e !== undefined && e.modRevision === modRevision ? e : undefined;
  }

  /** One entry per key; an older revision does not replace a newer one. */
  set(key: string, entry: DecodedEntry, generation: number): void {
    if (this.entries === undefined || generation !== this.gen) return;
    const current = this.entries.peek(key);
    if (current !== undefined && current.modRevision > entry.modRevision) return;
    this.entries.set(key, entry);
  }

  delete(key: string): void {
    this.entries?.delete(key);
  }

  /** Drops the key's entry when it is older than `modRevision` (the key was deleted at that revision). */
  forgetBefore(key: string, modRevision: number): void {
    const current = this.entries?.peek(key);
    if (current !== undefined && current.modRevision < modRevision) this.entries?.delete(key);
  }

  /** Forgets everything: the transformers' verdicts may have changed. */
  clear(): void {
    this.gen++;
    this.entries?.clear();
  }

  get size(): number {
    return this.entries?.size ?? 0;
  }
}
