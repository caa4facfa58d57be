import { AtrestError } from "../common/errors.js";
import { readRefusedError, startsWith, unknownPrefixError, type EnvelopeProvider } from "./provider.js";
import type { ReadResult, TransformContext, ValueOrigin } from "./transformer.js";

/** A named key from the configuration (`keys: [{name, secret}]`). The bytes are key material: never log them. */
export type EnvelopeKey = { readonly name: string } & (
  { readonly secret: Uint8Array } | { readonly key: Uint8Array }
);

export function keyMaterial(k: EnvelopeKey): Uint8Array {
  return "secret" in k ? k.secret : k.key;
}

/** One key's cipher: the bytes after `<keyName>:` (seal writes the prefix too, saving a copy). */
export interface KeyCipher {
  /** The whole stored value: `prefix` (`k8s:enc:<provider>:v1:<keyName>:`) ‖ the key's sealed bytes. */
  seal(plaintext: Uint8Array, aad: Uint8Array, prefix: Buffer): Buffer;
  open(sealed: Uint8Array, aad: Uint8Array): Buffer;
}

interface PreparedKey {
  readonly name: string;
  /** `k8s:enc:<provider>:v1:<name>:` */
  readonly prefix: Buffer;
  readonly cipher: KeyCipher;
  readonly origin: ValueOrigin;
}

/**
 * aescbc, aesgcm and secretbox: several named keys under `k8s:enc:<provider>:v1:`; the first key
 * writes, every key reads, and a read with any key but the first is stale. As in kube (a prefix
 * transformer per key, `<name>:`), a key that cannot open a value does not end the search: two keys may
 * share a name, or one name may start another's (`a` and `a:b`).
 */
export class KeyedProvider implements EnvelopeProvider {
  readonly prefix: Buffer;
  private readonly keys: readonly PreparedKey[];

  constructor(
    readonly kind: "aescbc" | "aesgcm" | "secretbox",
    keys: readonly EnvelopeKey[],
    makeCipher: (key: Uint8Array, name: string) => KeyCipher,
  ) {
    this.prefix = Buffer.from(`k8s:enc:${kind}:v1:`);
    if (keys.length === 0)
      throw new AtrestError("invalid-argument", `${kind} provider needs at least one key`);
    this.keys = keys.map((k, i) => {
      if (k.name.length === 0)
        throw new AtrestError("invalid-argument", `${kind} keys[${i}].name: must not be empty`);
      let cipher: KeyCipher;
      try {
        cipher = makeCipher(keyMaterial(k), k.name);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        throw new AtrestError("invalid-argument", `${kind} keys[${i}] (${k.name}): ${message}`, {
          cause: err,
        });
      }
      return {
        name: k.name,
        prefix: Buffer.concat([this.prefix, Buffer.from(`${k.name}:`)]),
        cipher,
        origin: Object.freeze({ provider: kind, keyName: k.name }),
      };
    });
  }

  transformFromStorage(data: Uint8Array, ctx: TransformContext): Promise<ReadResult> {
    let refusals: unknown[] | undefined;
    for (let i = 0; i < this.keys.length; i++) {
      const key = this.keys[i]!;
      if (!startsWith(data, key.prefix)) continue;
      try {
        const plaintext = key.cipher.open(data.subarray(key.prefix.length), ctx.aad);
        return Promise.resolve({ plaintext, stale: i !== 0, origin: key.origin });
      } catch (err) {
        (refusals ??= []).push(err);
      }
    }
    return Promise.reject(refusals === undefined ? unknownPrefixError(data) : readRefusedError(refusals));
  }

  transformToStorage(plaintext: Uint8Array, ctx: TransformContext): Promise<Buffer> {
    try {
      const key = this.keys[0]!;
      return Promise.resolve(key.cipher.seal(plaintext, ctx.aad, key.prefix));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
