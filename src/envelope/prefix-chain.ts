import { AtrestError } from "../common/errors.js";
import { readRefusedError, startsWith, unknownPrefixError, type EnvelopeProvider } from "./provider.js";
import type { ReadResult, TransformContext, Transformer } from "./transformer.js";

/**
 * The providers of one resource (kube-apiserver's NewPrefixTransformers): the first writes; a stored
 * value is read by the first provider whose prefix it starts with *and* that can read it; a read by any
 * provider but the first is stale. A refusal never ends the search, as in kube: two providers of one
 * type share a prefix (`aescbc` with the new key, then `aescbc` with the old one; two KMS v1 providers of
 * one name), and identity (empty prefix, reads unprefixed values) may sit before the providers that still
 * have to read old data. When every matching provider refused, the read fails with their errors.
 */
export class PrefixChain implements Transformer {
  readonly providers: readonly EnvelopeProvider[];

  constructor(providers: readonly EnvelopeProvider[]) {
    if (providers.length === 0)
      throw new AtrestError("invalid-argument", "a prefix chain needs at least one provider");
    this.providers = Object.freeze([...providers]);
  }

  async transformFromStorage(data: Uint8Array, ctx: TransformContext): Promise<ReadResult> {
    let refusals: unknown[] | undefined;
    for (let i = 0; i < this.providers.length; i++) {
      const provider = this.providers[i]!;
      if (!startsWith(data, provider.prefix)) continue;
      let result: ReadResult;
      try {
        result = await provider.transformFromStorage(data, ctx);
      } catch (err) {
        // Identity refusing encrypted-looking data says nothing about the value: kube drops it too.
        if (provider.prefix.length > 0) (refusals ??= []).push(err);
        continue;
      }
      return i === 0 || result.stale ? result : { ...result, stale: true };
    }
    throw refusals === undefined ? unknownPrefixError(data) : readRefusedError(refusals);
  }

  transformToStorage(plaintext: Uint8Array, ctx: TransformContext): Promise<Buffer> {
    return this.providers[0]!.transformToStorage(plaintext, ctx);
  }
}

export function newPrefixChain(providers: readonly EnvelopeProvider[]): PrefixChain {
  return new PrefixChain(providers);
}
