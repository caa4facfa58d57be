import { randomBytes } from "node:crypto";
import { parseEncryptionContext } from "../encryption-context.js";
import { kmsError } from "../kms-error.js";
import { optionalParam, parseIntParam, requireParam, type Params } from "../key-params.js";
import { MAX_PLAINTEXT_BYTES } from "../keys/index.js";
import type { ActionSpec } from "./action-spec.js";
import { blobResource, keyAction, keyResource, ok } from "./define-action.js";
import { sealedBody } from "./key-bodies.js";

/** Cryptography: Encrypt, Decrypt, data keys, ReEncrypt. None changes anything stored. */

function plaintextParam(p: Params): Buffer {
  const bytes = Buffer.from(requireParam(p, "Plaintext"), "utf8");
  if (bytes.length > MAX_PLAINTEXT_BYTES)
    throw kmsError("InvalidParameter", `Plaintext: must be at most ${MAX_PLAINTEXT_BYTES} bytes`);
  return bytes;
}

function dataKeyBytes(p: Params): number {
  if (optionalParam(p, "NumberOfBytes") !== undefined)
    return parseIntParam(p, "NumberOfBytes", { min: 1, max: 1024 });
  const spec = optionalParam(p, "KeySpec") ?? "AES_256";
  if (spec === "AES_256") return 32;
  if (spec === "AES_128") return 16;
  throw kmsError("InvalidParameter", "KeySpec: must be AES_256 or AES_128");
}

/**
 * GenerateDataKey and GenerateDataKeyWithoutPlaintext: a random data key (its base64 text is what
 * Alibaba seals and returns), sealed with the key's primary version; the plaintext only if asked for.
 */
function dataKeyAction(withPlaintext: boolean): ActionSpec {
  return keyAction({
    readOnly: true,
    parse: (p) => ({ bytes: dataKeyBytes(p), context: parseEncryptionContext(p) }),
    run: async ({ bytes, context }, keyId, ctx) => {
      // Straight from the CSPRNG, not the IV pool: a data key must not linger in a shared buffer.
      const dataKey = randomBytes(bytes).toString("base64");
      const res = await ctx.keys.encrypt(keyId, Buffer.from(dataKey, "utf8"), context);
      const body = withPlaintext ? { ...sealedBody(res), Plaintext: dataKey } : sealedBody(res);
      return ok(body, res.keyId, res.keyVersionId);
    },
  });
}

const Decrypt: ActionSpec = {
  readOnly: true,
  async prepare(p, ctx) {
    const context = parseEncryptionContext(p);
    const blob = requireParam(p, "CiphertextBlob");
    const key = await blobResource(ctx, blob);
    return {
      resources: [key],
      run: async () => {
        const res = await ctx.keys.decrypt(blob, context);
        return ok(
          { Plaintext: res.plaintext.toString("utf8"), KeyId: res.keyId, KeyVersionId: res.keyVersionId },
          res.keyId,
          res.keyVersionId,
        );
      },
    };
  },
};

const ReEncrypt: ActionSpec = {
  readOnly: true,
  async prepare(p, ctx) {
    const sourceContext = parseEncryptionContext(p, "SourceEncryptionContext");
    const destinationContext = parseEncryptionContext(p, "DestinationEncryptionContext");
    const blob = requireParam(p, "CiphertextBlob");
    const source = await blobResource(ctx, blob);
    const destination = await keyResource(ctx, requireParam(p, "DestinationKeyId"));
    return {
      // The destination first: the audit record names the key the answer is sealed with.
      resources: [destination, source],
      run: async () => {
        // The plaintext stays inside this function: decrypted with the source key, sealed with the
        // destination key's primary version, never returned.
        const src = await ctx.keys.decrypt(blob, sourceContext);
        try {
          const res = await ctx.keys.encrypt(destination.keyId, src.plaintext, destinationContext);
          return ok(sealedBody(res), res.keyId, res.keyVersionId);
        } finally {
          src.plaintext.fill(0);
        }
      },
    };
  },
};

export const CRYPTO_ACTIONS = {
  Encrypt: keyAction({
    readOnly: true,
    parse: (p) => ({ plaintext: plaintextParam(p), context: parseEncryptionContext(p) }),
    run: async ({ plaintext, context }, keyId, ctx) => {
      const res = await ctx.keys.encrypt(keyId, plaintext, context);
      return ok(sealedBody(res), res.keyId, res.keyVersionId);
    },
  }),
  Decrypt,
  GenerateDataKey: dataKeyAction(true),
  GenerateDataKeyWithoutPlaintext: dataKeyAction(false),
  ReEncrypt,
} satisfies Record<string, ActionSpec>;
