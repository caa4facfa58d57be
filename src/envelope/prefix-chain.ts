import { AtrestError } from "../common/errors.js";
import { startsWith, unknownPrefixError, type EnvelopeProvider } from "./provider.js";
import type { ReadResult, TransformContext, Transformer } from "./transformer.js";

/**
 * The providers of one resource rule (kube-apiserver's prefixTransformers): the first writes; a stored
 * value goes to the first provider whose prefix it starts with; a read by any provider but the first is
 * stale. Identity (empty prefix) reads unprefixed values; its refusal of `k8s:enc:` data does not stop
 * the search, so identity may sit before the providers that still have to read old data.
 */
export class PrefixChain implements Transformer {
  readonly providers: readonly EnvelopeProvider[];

  constructor(providers: readonly EnvelopeProvider[]) {
    if (providers.length === 0)
      throw new AtrestError("invalid-argument", "a prefix chain needs at least one provider");
    this.providers = Object.freeze([...providers]);
  }

  async transformFromStorage(data: Uint8Array, ctx: TransformContext): Promise<ReadResult> {
    for (let i = 0; i < this.providers.length; i++) {
      const provider = this.providers[i]!;
      if (!startsWith(data, provider.prefix)) continue;
      let result: ReadResult;
      try {
        result = await provider.transformFromStorage(data, ctx);
      } catch (err) {
        if (provider.prefix.length === 0) continue;
        throw err;
      }
      return i === 0 || result.stale ? result : { ...result, stale: true };
    }
    throw unknownPrefixError(data);
  }

  transformToStorage(plaintext: Uint8Array, ctx: TransformContext): Promise<Buffer> {
    return this.providers[0]!.transformToStorage(plaintext, ctx);
  }
}

export function newPrefixChain(providers: readonly EnvelopeProvider[]): PrefixChain {
  return new PrefixChain(providers);
}
