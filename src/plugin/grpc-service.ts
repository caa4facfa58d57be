/**
 * The gRPC handlers: KMS v2 (Status, Encrypt, Decrypt) and v1beta1 (Version, Encrypt, Decrypt) over one
 * backend. Input is checked here, once, before any KMS call; every error leaves as a gRPC status with a
 * clear message (grpc-status.ts); a handler never throws into grpc-js.
 */
import type { Logger } from "pino";
import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from "@grpc/grpc-js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { AtrestError } from "../common/errors.js";
import type { Clock } from "../common/clock.js";
import type { Random } from "../common/random.js";
import type { BackendCiphertext, CallContext, KmsBackend } from "./backend.js";
import type { StatusCheck } from "./status-check.js";
import type { PluginMetrics } from "./metrics.js";
import { grpcCodeFor, grpcCodeName, toServiceError } from "./grpc-status.js";
import type {
  V1DecryptRequestWire,
  V1EncryptRequestWire,
  V1VersionRequestWire,
  V2DecryptRequestWire,
  V2EncryptRequestWire,
} from "./grpc-definitions.js";

/** Plaintext limit (bytes) for both APIs: Alibaba Cloud KMS takes 6144 base64 characters = 4608 bytes. */
export const MAX_PLAINTEXT_BYTES = 4608;
/** kube-apiserver rejects v2 ciphertexts and key_ids over 1024 bytes (DESIGN.md §3). */
export const MAX_V2_CIPHERTEXT_BYTES = 1024;
export const MAX_KEY_ID_BYTES = 1024;
/** Decrypt input cap: generous for v1 (no apiserver limit) but bounded. */
export const MAX_DECRYPT_CIPHERTEXT_BYTES = 16_384;
const DEFAULT_DEADLINE_MS = 10_000;

/** Runs synchronous work as a promise, a throw becoming a rejection. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
export const V1_VERSION = "v1beta1";

export interface ServiceDeps {
  readonly backend: KmsBackend;
  readonly statusCheck: StatusCheck;
  readonly metrics: PluginMetrics;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: Random;
  readonly runtimeVersion: string;
}

type Handler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;

function deadlineOf(call: { getDeadline(): Date | number }, clock: Clock): number {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  return Number.isFinite(ms) && ms > 0 ? ms : clock.now() + DEFAULT_DEADLINE_MS;
}

function checkPlaintext(plaintext: Buffer | undefined): Buffer {
  if (plaintext === undefined || plaintext.length === 0)
    throw new AtrestError("invalid-argument", "plaintext must not be empty");
  if (plaintext.length > MAX_PLAINTEXT_BYTES) {
    throw new AtrestError(
      "invalid-argument",
      `plaintext is ${plaintext.length} bytes; at most ${MAX_PLAINTEXT_BYTES} are accepted`,
    );
  }
  return plaintext;
}

function checkCiphertext(ciphertext: Buffer | undefined): Buffer {
  if (ciphertext === undefined || ciphertext.length === 0)
    throw new AtrestError("invalid-argument", "ciphertext must not be empty");
  if (ciphertext.length > MAX_DECRYPT_CIPHERTEXT_BYTES)
    throw new AtrestError("invalid-argument", `ciphertext is over ${MAX_DECRYPT_CIPHERTEXT_BYTES} bytes`);
  return ciphertext;
}

function checkV1Version(version: string | undefined): void {
  if (version !== V1_VERSION)
    throw new AtrestError("invalid-argument", `version must be ${JSON.stringify(V1_VERSION)}`);
}

export function createServiceImplementations(deps: ServiceDeps): {
  v2: UntypedServiceImplementation;
  v1beta1: UntypedServiceImplementation;
} {
  const { backend, statusCheck, metrics, logger, clock, random } = deps;

  function unary<Req, Res>(
    method: string,
    uidOf: (req: Req) => string | undefined,
    handler: Handler<Req, Res>,
  ) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const started = clock.now();
      const sentUid = uidOf(call.request);
      const uid =
        sentUid !== undefined && sentUid.length > 0 && sentUid.length <= 128 ? sentUid : random.uuid();
      const ctx: CallContext = { uid, deadlineMs: deadlineOf(call, clock) };
      handler(call.request, ctx).then(
        (response) => {
          metrics.observeCall(method, grpcCodeName(GrpcStatus.OK));
          logger.info({ method, uid, code: "OK", durationMs: clock.now() - started }, "kms plugin call");
          callback(null, response);
        },
        (err: unknown) => {
          const code = grpcCodeFor(err);
          metrics.observeCall(method, grpcCodeName(code));
          const fields = {
            method,
            uid,
            code: grpcCodeName(code),
            durationMs: clock.now() - started,
            ...(err instanceof AtrestError
              ? { errorCode: err.code, error: err.message }
              : { error: err instanceof Error ? err.name : "unknown" }),
          };
          if (code === GrpcStatus.INTERNAL) logger.error(fields, "kms plugin call failed");
          else logger.warn(fields, "kms plugin call failed");
          callback(toServiceError(err), null);
        },
      );
    };
  }

  const checkedEncrypt = async (plaintext: Buffer, ctx: CallContext): Promise<BackendCiphertext> => {
    const out = await backend.encrypt(plaintext, ctx);
    if (Buffer.byteLength(out.keyId) === 0 || Buffer.byteLength(out.keyId) > MAX_KEY_ID_BYTES) {
      throw new AtrestError("internal", "the backend produced a key_id outside 1..1024 bytes");
    }
    return out;
  };

  const v2: UntypedServiceImplementation = {
    Status: unary<Record<string, never>, { version: string; healthz: string; key_id: string }>(
      "v2/Status",
      () => undefined,
      async (_req, ctx) => {
        const snapshot = await statusCheck.settled(ctx.deadlineMs - clock.now() - 50);
        return { version: "v2", healthz: snapshot.healthy ? "ok" : snapshot.reason, key_id: snapshot.keyId };
      },
    ),
    Encrypt: unary<
      V2EncryptRequestWire,
      { ciphertext: Buffer; key_id: string; annotations: Record<string, Buffer> }
    >(
      "v2/Encrypt",
      (req) => req.uid,
      async (req, ctx) => {
        const out = await checkedEncrypt(checkPlaintext(req.plaintext), ctx);
        if (out.ciphertext.length > MAX_V2_CIPHERTEXT_BYTES) {
          throw new AtrestError(
            "invalid-argument",
            `the ciphertext would be ${out.ciphertext.length} bytes, over the KMS v2 limit of ${MAX_V2_CIPHERTEXT_BYTES}; send a smaller plaintext`,
          );
        }
        statusCheck.noteEncryptKeyId(out.keyId);
        return { ciphertext: out.ciphertext, key_id: out.keyId, annotations: { ...out.annotations } };
      },
    ),
    Decrypt: unary<V2DecryptRequestWire, { plaintext: Buffer }>(
      "v2/Decrypt",
      (req) => req.uid,
      async (req, ctx) => {
        const ciphertext = checkCiphertext(req.ciphertext);
        const keyId = req.key_id ?? "";
        if (keyId.length === 0) throw new AtrestError("invalid-argument", "key_id must not be empty");
        if (Buffer.byteLength(keyId) > MAX_KEY_ID_BYTES)
          throw new AtrestError("invalid-argument", `key_id is over ${MAX_KEY_ID_BYTES} bytes`);
        const plaintext = await backend.decrypt(
          { ciphertext, keyId, annotations: req.annotations ?? {} },
          ctx,
        );
        return { plaintext };
      },
    ),
  };

  const v1beta1: UntypedServiceImplementation = {
    Version: unary<V1VersionRequestWire, { version: string; runtime_name: string; runtime_version: string }>(
      "v1beta1/Version",
      () => undefined,
      (req) =>
        settle(() => {
          checkV1Version(req.version);
          return { version: V1_VERSION, runtime_name: "atrest", runtime_version: deps.runtimeVersion };
        }),
    ),
    Encrypt: unary<V1EncryptRequestWire, { cipher: Buffer }>(
      "v1beta1/Encrypt",
      () => undefined,
      async (req, ctx) => {
        checkV1Version(req.version);
        const out = await checkedEncrypt(checkPlaintext(req.plain), ctx);
        return { cipher: out.ciphertext };
      },
    ),
    Decrypt: unary<V1DecryptRequestWire, { plain: Buffer }>(
      "v1beta1/Decrypt",
      () => undefined,
      async (req, ctx) => {
        checkV1Version(req.version);
        const plain = await backend.decrypt({ ciphertext: checkCiphertext(req.cipher) }, ctx);
        return { plain };
      },
    ),
  };
  return { v2, v1beta1 };
}
