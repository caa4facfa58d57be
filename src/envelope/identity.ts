import { AtrestError } from "../common/errors.js";
import { ENCRYPTED_VALUE_MARKER, startsWith, type EnvelopeProvider } from "./provider.js";
import type { ReadResult, TransformContext } from "./transformer.js";

const ORIGIN = Object.freeze({ provider: "identity" as const });

/**
 * kube-apiserver's identity "encrypt check" transformer: values are stored unchanged, and reading bytes
 * that start with `k8s:enc:` is an error (they are encrypted, and some other provider must read them).
 */
export class IdentityProvider implements EnvelopeProvider {
  readonly kind = "identity" as const;
  readonly prefix = Buffer.alloc(0);

  transformFromStorage(data: Uint8Array, _ctx: TransformContext): Promise<ReadResult> {
    if (startsWith(data, ENCRYPTED_VALUE_MARKER)) {
      return Promise.reject(
        new AtrestError(
          "failed-precondition",
          "identity transformer tried to read encrypted data (it starts with k8s:enc:)",
          {
            details: { reason: "encrypted-data" },
          },
        ),
      );
    }
    return Promise.resolve({ plaintext: Buffer.from(data), stale: false, origin: ORIGIN });
  }

  transformToStorage(plaintext: Uint8Array, _ctx: TransformContext): Promise<Buffer> {
    return Promise.resolve(Buffer.from(plaintext));
  }
}

export function newIdentityTransformer(): IdentityProvider {
  return new IdentityProvider();
}
