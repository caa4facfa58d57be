import * as grpc from "@grpc/grpc-js";
import { AtrestError } from "../common/errors.js";
import { DEFAULT_KMS_TIMEOUT_MS } from "../envelope/kms-service.js";
import { fromGrpcError, grpcCodeName } from "./grpc-errors.js";
import { parseKmsEndpoint, type KmsEndpoint } from "../common/kms-endpoint.js";

/** One finished plugin call, for metrics and logs (no payloads, only what is safe to record). */
export interface KmsCallEvent {
  /** Full gRPC method path, e.g. `/v2.KeyManagementService/Encrypt`. */
  readonly method: string;
  /** The request uid (v2 Encrypt/Decrypt, and the uid given to Status), when there is one. */
  readonly uid?: string;
  /** "OK" or the gRPC status name. */
  readonly grpcCode: string;
  readonly durationMs: number;
}

export interface KmsClientOptions {
  /** `unix:///path/to/kms.sock` or `unix:///@abstract-name`. */
  readonly endpoint: string;
  /** Deadline of every call (kube's `timeout`); default 3000. */
  readonly timeoutMs?: number;
  /** Called after every call, successful or not. Must not throw. */
  readonly onCall?: (event: KmsCallEvent) => void;
}

/**
 * The channel options kube-apiserver's client effectively uses: `:authority` = localhost. Reconnect
 * backoff is kept short because the peer is a local socket: after a plugin restart the next Status
 * probe should reach it instead of failing fast for up to grpc's default 120 s backoff.
 */
const CHANNEL_OPTIONS: grpc.ChannelOptions = Object.freeze({
  "grpc.default_authority": "localhost",
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1_000,
});

/** A gRPC channel to one plugin socket with the unary-call plumbing both API versions share. */
export class PluginConnection {
  readonly endpoint: KmsEndpoint;
  readonly timeoutMs: number;
  private readonly client: grpc.Client;
  private readonly onCall: ((event: KmsCallEvent) => void) | undefined;
  private closed = false;

  constructor(options: KmsClientOptions) {
    this.endpoint = parseKmsEndpoint(options.endpoint);
    const timeoutMs = options.timeoutMs ?? DEFAULT_KMS_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new AtrestError(
        "invalid-argument",
        `KMS plugin timeoutMs must be a positive number, got ${timeoutMs}`,
        {
          details: { timeoutMs },
        },
      );
    }
    this.timeoutMs = timeoutMs;
    this.onCall = options.onCall;
    this.client = new grpc.Client(
      this.endpoint.grpcTarget,
      grpc.credentials.createInsecure(),
      CHANNEL_OPTIONS,
    );
  }

  /** One unary call with the configured deadline; failures become AtrestError (see grpc-errors.ts). */
  unary<Req, Res>(method: grpc.MethodDefinition<Req, Res>, request: Req, uid?: string): Promise<Res> {
    const started = performance.now();
    const report = (grpcCode: string): void => {
      this.onCall?.({
        method: method.path,
        ...(uid === undefined ? {} : { uid }),
        grpcCode,
        durationMs: performance.now() - started,
      });
    };
    if (this.closed) {
      return Promise.reject(
        new AtrestError("failed-precondition", `KMS plugin client for ${this.endpoint.endpoint} is closed`, {
          details: { method: method.path },
        }),
      );
    }
    return new Promise<Res>((resolve, reject) => {
      this.client.makeUnaryRequest<Req, Res>(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (err, response) => {
          if (err !== null) {
            report(grpcCodeName(err.code));
            reject(fromGrpcError(err, method.path, uid));
          } else if (response === undefined) {
            report("OK");
            reject(fromGrpcError(new Error("empty response"), method.path, uid));
          } else {
            report("OK");
            resolve(response);
          }
        },
      );
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}
