/**
 * The `alibaba` backend: the Alibaba Cloud KMS API (2016-01-20) through the official SDK, pointed at
 * atrest kms or at Alibaba Cloud KMS. The KEK never leaves the KMS; the plugin sends the plaintext
 * (kube-apiserver's seed or DEK) base64-encoded, as Alibaba's own Kubernetes plugin does, and keeps the
 * CiphertextBlob as opaque bytes.
 */
import { AtrestError } from "../common/errors.js";
import { systemClock, type Clock } from "../common/clock.js";
import { decodeAnnotations, encodeAnnotations, type KeyVersionRef } from "./annotations.js";
import type { BackendCiphertext, BackendDecryptRequest, CallContext, KmsBackend } from "./backend.js";
import { AtrestKmsSdkClient, SdkConfig, kmsSdk, sdkRuntime } from "./alibaba-sdk-client.js";
import { classifyKmsError } from "./alibaba-errors.js";
import { withRetry, type RetryPolicy } from "./retry.js";

export interface AlibabaCredentials {
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  /** STS token (temporary credentials). */
  readonly securityToken?: string;
}

export interface AlibabaBackendOptions {
  /** `https://host[:port]` (or `http://` for a plain-HTTP test endpoint); a bare host means HTTPS. */
  readonly endpoint: string;
  readonly regionId: string;
  /** A key id or an alias (`alias/…`). */
  readonly keyId: string;
  readonly credentials: AlibabaCredentials;
  /** PEM of a private CA that signed the KMS endpoint's certificate. */
  readonly caPem?: string;
  readonly connectTimeoutMs?: number;
  readonly clock?: Clock;
  readonly retryPolicy?: RetryPolicy;
  /** Called after every KMS request (metrics). */
  readonly onKmsCall?: (action: string, outcome: "ok" | "error", durationMs: number) => void;
}

/** The header atrest kms records in its audit trail; real Alibaba Cloud KMS ignores unknown headers. */
export const UID_HEADER = "x-atrest-uid";
/** Alibaba Cloud KMS caps Encrypt's Plaintext at 6144 characters; base64 makes 4608 bytes of that. */
export const ALIBABA_MAX_PLAINTEXT_BYTES = 4608;
const BLOB_PATTERN = /^[A-Za-z0-9+/=_-]+$/;
const MAX_BLOB_CHARS = 8192;

/** The KMS v2 key_id for a key version. Format must never change: it is stored with every object. */
export function alibabaKeyId(ref: KeyVersionRef): string {
  return `${ref.keyId}:${ref.keyVersionId}`;
}

/** The inverse of alibabaKeyId; undefined for a key_id of another form. */
export function parseAlibabaKeyId(keyId: string): KeyVersionRef | undefined {
  const at = keyId.lastIndexOf(":");
  if (at <= 0 || at === keyId.length - 1) return undefined;
  return { keyId: keyId.slice(0, at), keyVersionId: keyId.slice(at + 1) };
}

function parseEndpoint(endpoint: string): { protocol: "https" | "http"; host: string } {
  const withScheme = /^[a-z]+:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch (cause) {
    throw new AtrestError("invalid-argument", `--kms-endpoint ${JSON.stringify(endpoint)} is not a URL`, {
      cause,
    });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new AtrestError("invalid-argument", "--kms-endpoint must be https:// (or http:// for tests)");
  if (url.pathname !== "/" || url.search !== "")
    throw new AtrestError("invalid-argument", "--kms-endpoint must not carry a path or query");
  return { protocol: url.protocol === "https:" ? "https" : "http", host: url.host };
}

function canonicalBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, "base64");
  return bytes.toString("base64") === text ? bytes : undefined;
}

export function createAlibabaBackend(options: AlibabaBackendOptions): KmsBackend {
  const { protocol, host } = parseEndpoint(options.endpoint);
  if (options.keyId.length === 0)
    throw new AtrestError("invalid-argument", "--key-id is required for the alibaba backend");
  if (!options.credentials.accessKeyId || !options.credentials.accessKeySecret) {
    throw new AtrestError(
      "invalid-argument",
      "the alibaba backend needs an access key (--credentials-file or ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET)",
    );
  }
  const clock = options.clock ?? systemClock;
  const connectTimeoutMs = options.connectTimeoutMs ?? 2_000;
  const client = new AtrestKmsSdkClient(
    new SdkConfig({
      accessKeyId: options.credentials.accessKeyId,
      accessKeySecret: options.credentials.accessKeySecret,
      ...(options.credentials.securityToken ? { securityToken: options.credentials.securityToken } : {}),
      regionId: options.regionId,
      endpoint: host,
      protocol,
      connectTimeout: connectTimeoutMs,
      readTimeout: 10_000,
    }),
    options.caPem,
  );
  let calls = 0;

  async function call<T>(
    action: string,
    ctx: CallContext,
    send: (runtime: ReturnType<typeof sdkRuntime>) => Promise<T>,
  ): Promise<T> {
    return withRetry(
      async (remainingMs) => {
        calls++;
        const started = clock.now();
        try {
          const runtime = sdkRuntime({
            readTimeoutMs: remainingMs,
            connectTimeoutMs: Math.min(remainingMs, connectTimeoutMs),
            headers: { [UID_HEADER]: ctx.uid },
          });
          const result = await send(runtime);
          options.onKmsCall?.(action, "ok", clock.now() - started);
          return result;
        } catch (err) {
          options.onKmsCall?.(action, "error", clock.now() - started);
          throw classifyKmsError(err, action);
        }
      },
      { deadlineMs: ctx.deadlineMs, clock, ...(options.retryPolicy ? { policy: options.retryPolicy } : {}) },
    );
  }

  async function primaryVersion(ctx: CallContext): Promise<string> {
    const response = await call("DescribeKey", ctx, (rt) =>
      client.describeKeyEx(new kmsSdk.DescribeKeyRequest({ keyId: options.keyId }), rt as never),
    );
    const version = response.keyMetadata?.primaryKeyVersion;
    if (!version) throw new AtrestError("unavailable", "KMS DescribeKey returned no PrimaryKeyVersion");
    return version;
  }

  return {
    kind: "alibaba",
    description: `alibaba kms ${protocol}://${host} region ${options.regionId} key ${options.keyId}`,

    async encrypt(plaintext: Buffer, ctx: CallContext): Promise<BackendCiphertext> {
      if (plaintext.length > ALIBABA_MAX_PLAINTEXT_BYTES) {
        throw new AtrestError(
          "invalid-argument",
          `plaintext is ${plaintext.length} bytes; the KMS accepts at most ${ALIBABA_MAX_PLAINTEXT_BYTES}`,
        );
      }
      const response = await call("Encrypt", ctx, (rt) =>
        client.encryptEx(
          new kmsSdk.EncryptRequest({ keyId: options.keyId, plaintext: plaintext.toString("base64") }),
          rt as never,
        ),
      );
      const blob = response.ciphertextBlob;
      if (!blob || !response.keyId)
        throw new AtrestError("unavailable", "KMS Encrypt returned no CiphertextBlob or KeyId");
      const ref = {
        keyId: response.keyId,
        keyVersionId: response.keyVersionId || (await primaryVersion(ctx)),
      };
      return {
        ciphertext: Buffer.from(blob, "utf8"),
        keyId: alibabaKeyId(ref),
        annotations: encodeAnnotations(ref),
      };
    },

    async decrypt(request: BackendDecryptRequest, ctx: CallContext): Promise<Buffer> {
      const fromAnnotations =
        request.annotations === undefined ? undefined : decodeAnnotations(request.annotations);
      if (
        fromAnnotations !== undefined &&
        request.keyId !== undefined &&
        request.keyId !== alibabaKeyId(fromAnnotations)
      ) {
        throw new AtrestError(
          "invalid-argument",
          "key_id does not match the key and version in the annotations",
        );
      }
      // Without annotations the key_id alone names the version; a v2 request (one with a key_id) whose
      // key_id is not of this plugin's form could not be checked against the KMS's answer, so it is
      // refused rather than decrypted unchecked. (v1 requests carry neither: the blob names its key.)
      let ref = fromAnnotations;
      if (ref === undefined && request.keyId !== undefined) {
        ref = parseAlibabaKeyId(request.keyId);
        if (ref === undefined)
          throw new AtrestError(
            "invalid-argument",
            "key_id is not <key id>:<key version id> as this plugin writes it, and no annotations name the key",
          );
      }
      const blob = request.ciphertext.toString("utf8");
      if (blob.length > MAX_BLOB_CHARS || !BLOB_PATTERN.test(blob)) {
        throw new AtrestError(
          "invalid-argument",
          "ciphertext is not a KMS CiphertextBlob (expected base64 text)",
        );
      }
      const response = await call("Decrypt", ctx, (rt) =>
        client.decryptEx(new kmsSdk.DecryptRequest({ ciphertextBlob: blob }), rt as never),
      );
      if (
        ref !== undefined &&
        (response.keyId !== ref.keyId ||
          (response.keyVersionId && response.keyVersionId !== ref.keyVersionId))
      ) {
        throw new AtrestError(
          "data-corrupt",
          "the KMS decrypted the ciphertext with a different key or key version than its annotations name",
        );
      }
      const plaintext = canonicalBase64(response.plaintext ?? "");
      if (plaintext === undefined)
        throw new AtrestError(
          "data-corrupt",
          "KMS Decrypt returned a plaintext that is not base64; the ciphertext was not written by this plugin",
        );
      return plaintext;
    },

    kmsCalls: () => calls,
    close: async () => {},
  };
}
