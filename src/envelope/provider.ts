import { AtrestError } from "../common/errors.js";
import type { Transformer, ValueOrigin } from "./transformer.js";

/**
 * One provider of an encryption configuration (kube-apiserver's PrefixTransformer): a Transformer that
 * writes and reads whole stored values carrying its own prefix (`k8s:enc:<provider>:v1:<name>:`, empty
 * for identity). The prefix chain picks the provider for a stored value by this prefix.
 */
export interface EnvelopeProvider extends Transformer {
  readonly kind: ValueOrigin["provider"];
  /** Marks the values this provider reads. Empty for identity (it reads anything unprefixed). */
  readonly prefix: Buffer;
}

/** Every encrypted value starts with this; identity refuses to read such bytes as plaintext. */
export const ENCRYPTED_VALUE_MARKER = Buffer.from("k8s:enc:");

export function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

/**
 * The printable prefix of a stored value (up to the provider name's closing ':'), for error messages:
 * it names a provider and key, never secret data. Non-printable bytes end it.
 */
export function describePrefix(data: Uint8Array): string {
  let colons = 0;
  let end = 0;
  const limit = Math.min(data.length, 300);
  while (end < limit) {
    const c = data[end]!;
    if (c < 0x20 || c > 0x7e) break;
    end++;
    if (c === 0x3a && ++colons === 5) break;
  }
  return Buffer.from(data.subarray(0, end)).toString("latin1");
}

export function unknownPrefixError(data: Uint8Array): AtrestError {
  const encrypted = startsWith(data, ENCRYPTED_VALUE_MARKER);
  // Only an encrypted value's prefix is named: the start of an unencrypted value may be secret.
  const prefix = encrypted ? describePrefix(data) : "";
  return new AtrestError(
    "failed-precondition",
    encrypted
      ? `no matching prefix found: no provider in the encryption configuration reads values with prefix "${prefix}"; add the provider (and key) that wrote it`
      : "no matching prefix found: the value is not encrypted and no identity provider is configured to read it",
    { details: { reason: "unknown-prefix", prefix } },
  );
}

/**
 * The error of a read that every matching provider (or key) refused, as kube's prefix transformers
 * report it (utilerrors.Reduce of the aggregate): one error as it is, several as `[e1, e2]`. "No key of
 * mine wrote this" refusals are left out when another provider said more; the code is the one they
 * share, else "unavailable" when any may pass on retry (a plugin was down), else the first's.
 */
export function readRefusedError(errors: readonly unknown[]): Error {
  const all = errors.map((e) => (e instanceof Error ? e : new Error(String(e))));
  const informative = all.filter(
    (e) => !(e instanceof AtrestError && e.details["reason"] === "unknown-prefix"),
  );
  const seen = new Set<string>();
  const unique = (informative.length > 0 ? informative : all).filter((e) => {
    if (seen.has(e.message)) return false;
    seen.add(e.message);
    return true;
  });
  const first = unique[0]!;
  if (unique.length === 1) return first;
  const codes = new Set(unique.map((e) => (e instanceof AtrestError ? e.code : "internal")));
  const retryable = unique.some((e) => e instanceof AtrestError && e.retryable);
  const code =
    codes.size === 1
      ? [...codes][0]!
      : retryable
        ? "unavailable"
        : first instanceof AtrestError
          ? first.code
          : "internal";
  return new AtrestError(code, `[${unique.map((e) => e.message).join(", ")}]`, { cause: first });
}

/** The plaintext as a Buffer, copied when it is not one (callers may reuse their arrays). */
export function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
