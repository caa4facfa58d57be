/**
 * Decrypted object bytes by (storage key, modRevision), so that gets and lists of unchanged objects do
 * not decrypt them again — the apiserver's counterpart of kube-apiserver's watch cache, which serves
 * reads from decoded objects and makes a list cost the same whatever the encryption.
 *
 * A (key, modRevision) pair names one immutable stored value, so a hit is always the right plaintext.
 * What can change is the `stale` verdict (a reload, or a KMS v2 key_id rotation): whoever sees such a
 * change calls `clear()`. The generation guards against a decode that started before a clear and ends
 * after it: its verdict may be old, so it is not kept.
 *
 * The plaintext lives only in this process's memory, as it does in kube-apiserver's cache; the budget
 * bounds it, oldest entries leaving first.
 */
export const DEFAULT_DECODED_CACHE_BYTES = 64 * 1024 * 1024;

interface Entry {
  readonly modRevision: number;
  readonly data: Buffer;
  readonly stale: boolean;
}

export class DecodedCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private gen = 0;

  constructor(private readonly maxBytes = DEFAULT_DECODED_CACHE_BYTES) {}

  /** Take it before decoding or writing; pass it to `set`. */
  get generation(): number {
    return this.gen;
  }

  get(key: string, modRevision: number): Entry | undefined {
    const e = this.entries.get(key);
    return e !== undefined && e.modRevision === modRevision ? e : undefined;
  }

  set(key: string, entry: Entry, generation: number): void {
    if (generation !== this.gen || this.maxBytes <= 0) return;
    const cost = entry.data.length + key.length;
    if (cost > this.maxBytes) return;
    this.delete(key);
    this.entries.set(key, entry);
    this.bytes += cost;
    // Map iteration is insertion order: the first entries are the oldest.
    for (const [k] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.delete(k);
    }
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    this.entries.delete(key);
    this.bytes -= e.data.length + key.length;
  }

  /** Forgets everything: the transformers' verdicts may have changed. */
  clear(): void {
    this.gen++;
    this.entries.clear();
    this.bytes = 0;
  }

  get size(): number {
    return this.entries.size;
  }
}
