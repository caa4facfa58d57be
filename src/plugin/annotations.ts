/**
 * The annotations the plugin returns from Encrypt and expects back on Decrypt. Names must never change:
 * ciphertexts stored by kube-apiserver carry them forever (reads accept the past).
 */
import { AtrestError } from "../common/errors.js";

/** The KMS key id (not an alias) that produced the ciphertext. */
export const KEY_ID_ANNOTATION = "key-id.kms.atrest.io";
/** The KMS key version id that produced the ciphertext. */
export const KEY_VERSION_ANNOTATION = "version.kms.atrest.io";

const KNOWN = new Set([KEY_ID_ANNOTATION, KEY_VERSION_ANNOTATION]);
/** kube-apiserver's limit on annotation keys + values (DESIGN.md §3). */
export const MAX_ANNOTATIONS_BYTES = 32_768;

export interface KeyVersionRef {
  readonly keyId: string;
  readonly keyVersionId: string;
}

export function encodeAnnotations(ref: KeyVersionRef): Record<string, Buffer> {
  return {
    [KEY_ID_ANNOTATION]: Buffer.from(ref.keyId, "utf8"),
    [KEY_VERSION_ANNOTATION]: Buffer.from(ref.keyVersionId, "utf8"),
  };
}

/**
 * Reads annotations back from a Decrypt request. Unknown names are rejected rather than ignored: they
 * mean the ciphertext came from another plugin, and guessing would hide a misconfiguration.
 * Returns undefined when no annotations were sent.
 */
export function decodeAnnotations(
  annotations: Readonly<Record<string, Uint8Array>>,
): KeyVersionRef | undefined {
  const names = Object.keys(annotations);
  if (names.length === 0) return undefined;
  let total = 0;
  for (const name of names) {
    total += Buffer.byteLength(name) + (annotations[name]?.length ?? 0);
    if (!KNOWN.has(name)) {
      throw new AtrestError(
        "invalid-argument",
        `annotation ${JSON.stringify(name.slice(0, 253))} is not one this plugin writes (expected ${[...KNOWN].join(", ")})`,
        {
          details: { annotation: name.slice(0, 253) },
        },
      );
    }
  }
  if (total > MAX_ANNOTATIONS_BYTES)
    throw new AtrestError("invalid-argument", `annotations exceed ${MAX_ANNOTATIONS_BYTES} bytes`);
  const keyId = annotations[KEY_ID_ANNOTATION];
  const keyVersionId = annotations[KEY_VERSION_ANNOTATION];
  if (keyId === undefined || keyVersionId === undefined || keyId.length === 0 || keyVersionId.length === 0) {
    throw new AtrestError(
      "invalid-argument",
      `annotations must carry both ${KEY_ID_ANNOTATION} and ${KEY_VERSION_ANNOTATION}`,
    );
  }
  return {
    keyId: Buffer.from(keyId).toString("utf8"),
    keyVersionId: Buffer.from(keyVersionId).toString("utf8"),
  };
}
