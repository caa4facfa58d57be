/**
 * The rules kube-apiserver applies to what a KMS v2 plugin returns (DESIGN.md §3), with its messages.
 * Each `…Problems` function returns every broken rule (empty when valid), so callers can report them
 * all at once; the envelope's EncryptedObject codec applies the same limits to stored values.
 */
import { AtrestError } from "../common/errors.js";
import {
  ANNOTATIONS_MAX_BYTES,
  ENCRYPTED_DEK_SOURCE_MAX_BYTES,
  KEY_ID_MAX_BYTES,
  KMS_V2_STATUS_VERSIONS,
} from "../envelope/index.js";

export { KMS_V2_STATUS_VERSIONS };

/** kube-apiserver's limits (defined once, by the envelope that stores what the plugin returns). */
export const KMS_V2_LIMITS = Object.freeze({
  /** Plugin ciphertext (the stored encryptedDEKSource): 1..1024 bytes. */
  ciphertextMaxBytes: ENCRYPTED_DEK_SOURCE_MAX_BYTES,
  /** key_id: 1..1024 bytes (UTF-8). */
  keyIdMaxBytes: KEY_ID_MAX_BYTES,
  /** Sum over annotations of key bytes + value bytes. */
  annotationsMaxBytes: ANNOTATIONS_MAX_BYTES,
});

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL_MAX = 63;
const DNS1123_SUBDOMAIN_MAX = 253;

/** Problems with a plugin ciphertext / encryptedDEKSource (`field` names it in messages). */
export function ciphertextProblems(ciphertext: Uint8Array, field = "ciphertext"): string[] {
  if (ciphertext.length === 0) return [`${field} is empty`];
  if (ciphertext.length > KMS_V2_LIMITS.ciphertextMaxBytes) {
    return [
      `${field} is ${ciphertext.length} bytes, which exceeds the max size of ${KMS_V2_LIMITS.ciphertextMaxBytes}`,
    ];
  }
  return [];
}

/** Problems with a key_id (kube's ValidateKeyID). */
export function keyIdProblems(keyId: string, field = "key_id"): string[] {
  const bytes = Buffer.byteLength(keyId, "utf8");
  if (bytes === 0) return [`${field} is empty`];
  if (bytes > KMS_V2_LIMITS.keyIdMaxBytes) {
    return [`${field} is ${bytes} bytes, which exceeds the max size of ${KMS_V2_LIMITS.keyIdMaxBytes}`];
  }
  return [];
}

/**
 * Problems with one annotation name: a fully-qualified, lowercase DNS name (kube's
 * IsFullyQualifiedDomainName): at least two labels, labels ≤ 63, total ≤ 253, one trailing dot allowed.
 */
export function annotationNameProblems(name: string, field = "annotations"): string[] {
  if (name.length === 0) return [`${field}: Required value`];
  const bare = name.endsWith(".") ? name.slice(0, -1) : name;
  const quoted = JSON.stringify(bare);
  const problems: string[] = [];
  if (bare.length > DNS1123_SUBDOMAIN_MAX) {
    problems.push(
      `${field}: Invalid value: ${quoted}: must be no more than ${DNS1123_SUBDOMAIN_MAX} characters`,
    );
  }
  if (!DNS1123_SUBDOMAIN.test(bare)) {
    problems.push(
      `${field}: Invalid value: ${quoted}: a lowercase RFC 1123 subdomain must consist of lower case ` +
        `alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    );
  }
  if (problems.length > 0) return problems;
  const labels = bare.split(".");
  if (labels.length < 2) {
    return [
      `${field}: Invalid value: ${quoted}: should be a domain with at least two segments separated by dots`,
    ];
  }
  for (const label of labels) {
    if (label.length > DNS1123_LABEL_MAX) {
      problems.push(
        `${field}: Invalid value: ${JSON.stringify(label)}: must be no more than ${DNS1123_LABEL_MAX} characters`,
      );
    } else if (!DNS1123_LABEL.test(label)) {
      problems.push(
        `${field}: Invalid value: ${JSON.stringify(label)}: a lowercase RFC 1123 label is required`,
      );
    }
  }
  return problems;
}

/** Problems with a whole annotations map: every name, and keys + values ≤ 32 KiB in total. */
export function annotationsProblems(
  annotations: Readonly<Record<string, Uint8Array>>,
  field = "annotations",
): string[] {
  const problems: string[] = [];
  let totalBytes = 0;
  for (const [name, value] of Object.entries(annotations)) {
    problems.push(...annotationNameProblems(name, field));
    totalBytes += Buffer.byteLength(name, "utf8") + value.length;
  }
  if (totalBytes > KMS_V2_LIMITS.annotationsMaxBytes) {
    problems.push(
      `total size of ${field} is ${totalBytes}, which exceeds the max size of ${KMS_V2_LIMITS.annotationsMaxBytes}`,
    );
  }
  return problems;
}

/** Problems with an EncryptResponse, as kube-apiserver checks it before using the ciphertext. */
export function encryptResponseProblems(response: {
  readonly ciphertext: Uint8Array;
  readonly keyId: string;
  readonly annotations: Readonly<Record<string, Uint8Array>>;
}): string[] {
  return [
    ...ciphertextProblems(response.ciphertext),
    ...keyIdProblems(response.keyId),
    ...annotationsProblems(response.annotations),
  ];
}

/**
 * Why a Status response does not make the plugin healthy (kube's isKMSv2ProviderHealthy): healthz
 * must be "ok", version "v2" (or "v2beta1"), and key_id valid. Empty when healthy.
 */
export function statusHealthProblems(response: {
  readonly version: string;
  readonly healthz: string;
  readonly keyId: string;
}): string[] {
  const problems: string[] = [];
  if (response.healthz !== "ok") problems.push(`got unexpected healthz status: ${response.healthz}`);
  if (!KMS_V2_STATUS_VERSIONS.includes(response.version)) {
    problems.push(`expected KMSv2 API version v2, got ${response.version}`);
  }
  problems.push(...keyIdProblems(response.keyId));
  return problems;
}

/**
 * The error for a plugin response that breaks kube-apiserver's rules: code "internal" (the plugin is
 * misbehaving; retrying the same call is not expected to help), `details.reason` =
 * "invalid-plugin-response", `details.problems` lists every broken rule.
 */
export function invalidPluginResponse(
  method: string,
  problems: readonly string[],
  extraDetails: Readonly<Record<string, unknown>> = {},
): AtrestError {
  return new AtrestError(
    "internal",
    `KMS plugin ${method} returned an invalid response: ${problems.join("; ")}`,
    {
      details: { ...extraDetails, reason: "invalid-plugin-response", method, problems: [...problems] },
    },
  );
}
