import { systemRandom, type Random } from "../common/random.js";
import { kmsV2ServiceDefinition, methodDefinition } from "../proto/kms-services.js";
import type {
  V2DecryptRequest,
  V2DecryptResponseOutput,
  V2EncryptRequest,
  V2EncryptResponseOutput,
  V2StatusRequest,
  V2StatusResponseOutput,
} from "../generated/kms-wire.js";
import { PluginConnection, type KmsClientOptions } from "./plugin-connection.js";
import { encryptResponseProblems, invalidPluginResponse } from "./validation.js";
import type {
  Closeable,
  DecryptRequest,
  EncryptResponse,
  KmsV2Service,
  StatusResponse,
} from "../envelope/kms-service.js";

export interface KmsV2ClientOptions extends KmsClientOptions {
  /** Source of the per-call uids (fresh UUIDs); injected by tests. */
  readonly random?: Random;
}

export interface KmsV2Client extends KmsV2Service, Closeable {
  /** The configured endpoint string. */
  readonly endpoint: string;
  readonly timeoutMs: number;
}

/**
 * A KMS v2 client (`/v2.KeyManagementService/…`) as kube-apiserver runs it: `:authority` localhost,
 * a fresh UUID uid on every Encrypt/Decrypt unless one is given, the configured timeout as the
 * deadline, and Encrypt responses checked against kube's limits (ciphertext and key_id 1..1024 bytes,
 * annotation names, 32 KiB of annotations) — a violation is AtrestError "internal" with
 * `details.reason` "invalid-plugin-response". Status is returned as the plugin sent it: judge it with
 * `statusHealthProblems` (validation.ts). gRPC failures map as in grpc-errors.ts.
 */
export function createKmsV2Client(options: KmsV2ClientOptions): KmsV2Client {
  const connection = new PluginConnection(options);
  const random = options.random ?? systemRandom;
  const service = kmsV2ServiceDefinition();
  const statusMethod = methodDefinition<V2StatusRequest, V2StatusResponseOutput>(service, "Status");
  const encryptMethod = methodDefinition<V2EncryptRequest, V2EncryptResponseOutput>(service, "Encrypt");
  const decryptMethod = methodDefinition<V2DecryptRequest, V2DecryptResponseOutput>(service, "Decrypt");

  return {
    endpoint: options.endpoint,
    timeoutMs: connection.timeoutMs,

    async status(callOptions?: { uid?: string }): Promise<StatusResponse> {
      // StatusRequest has no uid field; a given uid only labels the call in errors and events.
      const response = await connection.unary(statusMethod, {}, callOptions?.uid);
      return { version: response.version, healthz: response.healthz, keyId: response.key_id };
    },

    async encrypt(plaintext: Uint8Array, callOptions?: { uid?: string }): Promise<EncryptResponse> {
      const uid = callOptions?.uid ?? random.uuid();
      const response = await connection.unary(encryptMethod, { plaintext, uid }, uid);
      const result: EncryptResponse = {
        ciphertext: response.ciphertext,
        keyId: response.key_id,
        annotations: response.annotations,
      };
      const problems = encryptResponseProblems(result);
      if (problems.length > 0) throw invalidPluginResponse(encryptMethod.path, problems, { uid });
      return result;
    },

    async decrypt(request: DecryptRequest): Promise<Buffer> {
      const uid = request.uid ?? random.uuid();
      const response = await connection.unary(
        decryptMethod,
        {
          ciphertext: request.ciphertext,
          uid,
          key_id: request.keyId,
          annotations: { ...request.annotations },
        },
        uid,
      );
      return response.plaintext;
    },

    close(): void {
      connection.close();
    },
  } satisfies KmsV2Client;
}
