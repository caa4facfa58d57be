/**
 * The preflight canary: Status → Encrypt → Decrypt through the exact plugin socket the rendered
 * configuration will name, as the apiserver's own KMS v2 client does — before any configuration
 * changes (OpenShift's KMS preflight). The canary's plaintext is random bytes made for the check.
 */
import { randomBytes } from "node:crypto";
import { AtrestError, wrapError } from "../common/errors.js";
import { keyIdHash } from "../common/key-id-hash.js";
import { grpcKmsClients } from "../encryption-config/grpc-clients.js";
import { KMS_V2_STATUS_VERSIONS, type StatusResponse } from "../envelope/index.js";
import { keyIdProblem } from "../envelope/kmsv2/encrypted-object.js";
import { parseGoDurationNs } from "../common/go-duration.js";
import type { ClusterPlugin } from "./cluster-file.js";

export interface CanaryResult {
  readonly endpoint: string;
  /** The key_id the plugin's Status and Encrypt reported. */
  readonly keyId: string;
  readonly keyIdHash: string;
  readonly statusMs: number;
  readonly encryptMs: number;
  readonly decryptMs: number;
}

/** kube's judgement of a Status answer (isKMSv2ProviderHealthy): healthz ok, a v2 version, a valid key_id. */
function statusHealthProblems(status: StatusResponse): string[] {
  const problems: string[] = [];
  if (status.healthz !== "ok") problems.push(`got unexpected healthz status: ${status.healthz}`);
  if (!KMS_V2_STATUS_VERSIONS.includes(status.version))
    problems.push(`expected KMSv2 API version v2, got ${status.version}`);
  const keyId = keyIdProblem(status.keyId);
  if (keyId !== undefined) problems.push(`invalid key_id: ${keyId}`);
  return problems;
}

function timeoutOf(plugin: Pick<ClusterPlugin, "timeout">): number {
  return Number((parseGoDurationNs(plugin.timeout) ?? 3_000_000_000n) / 1_000_000n);
}

/** Only Status: which key_id the plugin serves now (throws `unavailable` when it is not healthy). */
export async function pluginKeyId(plugin: Pick<ClusterPlugin, "endpoint" | "timeout">): Promise<string> {
  const client = grpcKmsClients.createKmsV2Client({
    endpoint: plugin.endpoint,
    timeoutMs: timeoutOf(plugin),
    providerName: "atrest-encryption-canary",
  });
  try {
    const status = await client.status();
    const problems = statusHealthProblems(status);
    if (problems.length > 0)
      throw new AtrestError(
        "unavailable",
        `KMS plugin ${plugin.endpoint} is not healthy: ${problems.join(", ")}`,
      );
    return status.keyId;
  } catch (err) {
    throw wrapError(err, `KMS plugin ${plugin.endpoint}`, "unavailable");
  } finally {
    client.close();
  }
}

/** Status → Encrypt → Decrypt on a KMS v2 plugin; throws naming the step that failed. */
export async function kmsV2Canary(
  plugin: Pick<ClusterPlugin, "endpoint" | "timeout">,
): Promise<CanaryResult> {
  const client = grpcKmsClients.createKmsV2Client({
    endpoint: plugin.endpoint,
    timeoutMs: timeoutOf(plugin),
    providerName: "atrest-encryption-canary",
  });
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    const started = Date.now();
    try {
      return { value: await fn(), ms: Date.now() - started };
    } catch (err) {
      throw wrapError(err, `canary ${name} through ${plugin.endpoint}`, "unavailable");
    }
  };
  try {
    const status = await step("Status", () => client.status());
    const problems = statusHealthProblems(status.value);
    if (problems.length > 0)
      throw new AtrestError(
        "unavailable",
        `canary Status through ${plugin.endpoint}: the plugin is not healthy: ${problems.join(", ")}`,
      );
    const plaintext = randomBytes(32);
    const enc = await step("Encrypt", () => client.encrypt(plaintext));
    if (enc.value.keyId !== status.value.keyId)
      throw new AtrestError(
        "failed-precondition",
        `canary Encrypt through ${plugin.endpoint}: key_id ${keyIdHash(enc.value.keyId)} differs from Status's ${keyIdHash(status.value.keyId)}`,
      );
    const dec = await step("Decrypt", () =>
      client.decrypt({
        ciphertext: enc.value.ciphertext,
        keyId: enc.value.keyId,
        annotations: enc.value.annotations,
      }),
    );
    if (!Buffer.from(dec.value).equals(plaintext))
      throw new AtrestError(
        "data-corrupt",
        `canary Decrypt through ${plugin.endpoint} returned other bytes than were encrypted`,
      );
    return {
      endpoint: plugin.endpoint,
      keyId: status.value.keyId,
      keyIdHash: keyIdHash(status.value.keyId),
      statusMs: status.ms,
      encryptMs: enc.ms,
      decryptMs: dec.ms,
    };
  } finally {
    client.close();
  }
}

/** Encrypt → Decrypt on a KMS v1 plugin (v1 has no Status): can the old provider still read? */
export async function kmsV1Canary(endpoint: string, timeoutMs: number): Promise<void> {
  const client = grpcKmsClients.createKmsV1Client({
    endpoint,
    timeoutMs,
    providerName: "atrest-encryption-canary",
  });
  try {
    const plaintext = randomBytes(32);
    const cipher = await client.encrypt(plaintext);
    const plain = await client.decrypt(cipher);
    if (!Buffer.from(plain).equals(plaintext))
      throw new AtrestError(
        "data-corrupt",
        `canary Decrypt through ${endpoint} returned other bytes than were encrypted`,
      );
  } catch (err) {
    throw wrapError(err, `canary through the KMS v1 plugin ${endpoint}`, "unavailable");
  } finally {
    client.close();
  }
}
