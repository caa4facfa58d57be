import { AtrestError } from "../common/errors.js";
import { kmsV1beta1ServiceDefinition, methodDefinition } from "../proto/kms-services.js";
import type {
  V1beta1DecryptRequest,
  V1beta1DecryptResponseOutput,
  V1beta1EncryptRequest,
  V1beta1EncryptResponseOutput,
  V1beta1VersionRequest,
  V1beta1VersionResponseOutput,
} from "../generated/kms-wire.js";
import { PluginConnection, type KmsClientOptions } from "./plugin-connection.js";
import type { Closeable, KmsV1Service } from "../envelope/kms-service.js";

/** The only KMS v1 API version; sent in every request and required from Version. */
export const KMS_V1_API_VERSION = "v1beta1";

export type KmsV1ClientOptions = KmsClientOptions;

export interface KmsV1Client extends KmsV1Service, Closeable {
  readonly endpoint: string;
  readonly timeoutMs: number;
  /** What the plugin answered to Version, once the handshake has succeeded. */
  readonly runtime: { readonly name: string; readonly version: string } | undefined;
}

/**
 * A KMS v1beta1 client (`/v1beta1.KeyManagementService/…`) as kube-apiserver runs it: before the
 * first Encrypt/Decrypt it calls Version once and requires "v1beta1" (concurrent first calls share
 * one handshake; a failed handshake is retried by the next call); every request carries version
 * "v1beta1"; `:authority` localhost and the configured timeout as in the v2 client.
 */
export function createKmsV1Client(options: KmsV1ClientOptions): KmsV1Client {
  const connection = new PluginConnection(options);
  const service = kmsV1beta1ServiceDefinition();
  const versionMethod = methodDefinition<V1beta1VersionRequest, V1beta1VersionResponseOutput>(
    service,
    "Version",
  );
  const encryptMethod = methodDefinition<V1beta1EncryptRequest, V1beta1EncryptResponseOutput>(
    service,
    "Encrypt",
  );
  const decryptMethod = methodDefinition<V1beta1DecryptRequest, V1beta1DecryptResponseOutput>(
    service,
    "Decrypt",
  );

  let handshake: Promise<void> | undefined;
  let runtime: { name: string; version: string } | undefined;

  const checkVersion = async (): Promise<void> => {
    const response = await connection.unary(versionMethod, { version: KMS_V1_API_VERSION });
    if (response.version !== KMS_V1_API_VERSION) {
      throw new AtrestError(
        "failed-precondition",
        `KMS provider api version ${JSON.stringify(response.version)} is not supported, only ${KMS_V1_API_VERSION} is supported now`,
        { details: { method: versionMethod.path, version: response.version } },
      );
    }
    runtime = { name: response.runtime_name, version: response.runtime_version };
  };

  const ensureVersion = (): Promise<void> => {
    if (handshake === undefined) {
      const attempt = checkVersion();
      handshake = attempt;
      attempt.catch(() => {
        if (handshake === attempt) handshake = undefined;
      });
    }
    return handshake;
  };

  return {
    endpoint: options.endpoint,
    timeoutMs: connection.timeoutMs,
    get runtime() {
      return runtime;
    },

    async encrypt(plaintext: Uint8Array): Promise<Buffer> {
      await ensureVersion();
      const response = await connection.unary(encryptMethod, {
        version: KMS_V1_API_VERSION,
        plain: plaintext,
      });
      return response.cipher;
    },

    async decrypt(ciphertext: Uint8Array): Promise<Buffer> {
      await ensureVersion();
      const response = await connection.unary(decryptMethod, {
        version: KMS_V1_API_VERSION,
        cipher: ciphertext,
      });
      return response.plain;
    },

    close(): void {
      connection.close();
    },
  } satisfies KmsV1Client;
}
