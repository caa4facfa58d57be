/**
 * A real gRPC KMS plugin for tests: KMS v2 and v1beta1 served on the same unix socket (a file, or a
 * Linux abstract socket), "encrypting" like Kubernetes' own mock plugin (Base64Plugin): ciphertext =
 * base64(plaintext), key_id "1", annotation local-kek.kms.kubernetes.io = "encrypted-local-kek".
 *
 *   const plugin = await startFakeKmsPlugin({ socketPath: join(dir, "kms.sock") });
 *   const client = createKmsV2Client({ endpoint: plugin.endpoint });
 *   plugin.keyId = "2";                                        // rotate
 *   plugin.healthz = "broken";                                 // Status says not ok
 *   plugin.failWith("v2Encrypt", grpc.status.PERMISSION_DENIED);  // calls fail with that code
 *   plugin.delay("v2Decrypt", 5_000);                          // slow plugin
 *   await plugin.stop(); await plugin.restart();               // plugin down / back, same socket
 *   plugin.calls.v2Encrypt; plugin.uids; plugin.lastAuthority; // what the client did
 *   await plugin.close();
 */
import * as grpc from "@grpc/grpc-js";
import { rmSync } from "node:fs";
import { kmsV1beta1ServiceDefinition, kmsV2ServiceDefinition } from "../../src/proto/kms-services.js";
import type {
  V1beta1KeyManagementServiceHandlers,
  V2EncryptRequestOutput,
  V2EncryptResponse,
  V2DecryptRequestOutput,
  V2KeyManagementServiceHandlers,
} from "../../src/generated/kms-wire.js";

export type FakeKmsMethod = "v2Status" | "v2Encrypt" | "v2Decrypt" | "v1Version" | "v1Encrypt" | "v1Decrypt";

export const FAKE_KMS_METHODS: readonly FakeKmsMethod[] = Object.freeze([
  "v2Status",
  "v2Encrypt",
  "v2Decrypt",
  "v1Version",
  "v1Encrypt",
  "v1Decrypt",
]);

/** The annotation Kubernetes' mock plugin attaches to every Encrypt response and requires on Decrypt. */
export const MOCK_ANNOTATION_NAME = "local-kek.kms.kubernetes.io";
export const MOCK_ANNOTATION_VALUE = "encrypted-local-kek";

export interface FakeKmsPluginOptions {
  /** An absolute socket path (a stale file there is removed first), or `@name` for an abstract socket. */
  readonly socketPath: string;
  /** Initial key_id; default "1". */
  readonly keyId?: string;
}

export interface FakeKmsFailure {
  readonly code: grpc.status;
  readonly message: string;
}

export class FakeKmsPlugin {
  /** `unix:///path` or `unix:///@name`: what an EncryptionConfiguration's `endpoint` would say. */
  readonly endpoint: string;
  readonly socketPath: string;

  /** key_id reported by Status and Encrypt. */
  keyId: string;
  /** Status healthz ("ok" = healthy). */
  healthz = "ok";
  /** Status version ("v2"). */
  statusVersion = "v2";
  /** v1 Version answer ("v1beta1"). */
  v1Version = "v1beta1";
  /** Annotations returned by v2 Encrypt. */
  annotations: Record<string, Buffer> = { [MOCK_ANNOTATION_NAME]: Buffer.from(MOCK_ANNOTATION_VALUE) };
  /** Like kube's mock: v2 Decrypt requires the mock annotation. Set false to accept anything. */
  requireMockAnnotation = true;
  /** Replaces v2 Encrypt's answer (e.g. an empty ciphertext, to test validation). */
  encryptResponseOverride: ((request: V2EncryptRequestOutput) => V2EncryptResponse) | undefined;

  /** Calls received per method (counted before any failure or delay). */
  readonly calls: Record<FakeKmsMethod, number> = zeroCounts();
  /** uids of v2 Encrypt and Decrypt requests, in arrival order. */
  readonly uids: string[] = [];
  /** `version` field of every v1beta1 request (Version, Encrypt, Decrypt), in arrival order. */
  readonly v1RequestVersions: string[] = [];
  /** `:authority` of the most recent call. */
  lastAuthority: string | undefined;
  /** Metadata (custom headers) of the most recent call. */
  lastMetadata: grpc.Metadata | undefined;
  /** The most recent v2 Decrypt request. */
  lastV2DecryptRequest: V2DecryptRequestOutput | undefined;

  private readonly failures = new Map<FakeKmsMethod, FakeKmsFailure>();
  private readonly delays = new Map<FakeKmsMethod, number>();
  private readonly pendingTimers = new Set<NodeJS.Timeout>();
  private server: grpc.Server | undefined;
  private readonly bindTarget: string;
  private readonly isAbstract: boolean;

  constructor(options: FakeKmsPluginOptions) {
    this.socketPath = options.socketPath;
    this.keyId = options.keyId ?? "1";
    this.isAbstract = options.socketPath.startsWith("@");
    if (this.isAbstract) {
      const name = options.socketPath.slice(1);
      this.endpoint = `unix:///@${name}`;
      // node binds a path that starts with NUL in the Linux abstract namespace.
      this.bindTarget = `unix:\0${name}`;
    } else {
      if (!options.socketPath.startsWith("/")) throw new Error("socketPath must be absolute or start with @");
      this.endpoint = `unix://${options.socketPath}`;
      this.bindTarget = `unix:${options.socketPath}`;
    }
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Makes every call to `method` ("all": every method) fail with `code` until clearFailures(). */
  failWith(method: FakeKmsMethod | "all", code: grpc.status, message = "injected failure"): void {
    for (const m of method === "all" ? FAKE_KMS_METHODS : [method]) this.failures.set(m, { code, message });
  }

  clearFailures(): void {
    this.failures.clear();
  }

  /** Delays every answer of `method` ("all": every method) by `ms` (0 removes the delay). */
  delay(method: FakeKmsMethod | "all", ms: number): void {
    for (const m of method === "all" ? FAKE_KMS_METHODS : [method]) {
      if (ms > 0) this.delays.set(m, ms);
      else this.delays.delete(m);
    }
  }

  resetCounters(): void {
    for (const m of FAKE_KMS_METHODS) this.calls[m] = 0;
    this.uids.length = 0;
    this.v1RequestVersions.length = 0;
    this.lastAuthority = undefined;
    this.lastMetadata = undefined;
    this.lastV2DecryptRequest = undefined;
  }

  /** Binds the socket (removing a stale socket file first). Called by startFakeKmsPlugin. */
  async start(): Promise<void> {
    if (this.server !== undefined) return;
    if (!this.isAbstract) rmSync(this.socketPath, { force: true });
    const server = new grpc.Server();
    server.addService(kmsV2ServiceDefinition(), this.v2Handlers());
    server.addService(kmsV1beta1ServiceDefinition(), this.v1Handlers());
    const bind = (): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        server.bindAsync(this.bindTarget, grpc.ServerCredentials.createInsecure(), (err) =>
          err === null ? resolve() : reject(err),
        );
      });
    // Right after a stop the old listener may still hold the address for a moment: retry briefly.
    for (let attempt = 1; ; attempt++) {
      try {
        await bind();
        break;
      } catch (err) {
        if (attempt >= 40) {
          server.forceShutdown();
          throw err;
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    this.server = server;
  }

  /** Stops serving at once (in-flight calls are cancelled); the socket goes away. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    for (const timer of this.pendingTimers) clearTimeout(timer);
    this.pendingTimers.clear();
    server.forceShutdown();
    // Let the listening socket close before a restart binds the same address again.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!this.isAbstract) rmSync(this.socketPath, { force: true });
  }

  /** Serves again on the same socket, keeping knobs and counters. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stops for good (same as stop). */
  async close(): Promise<void> {
    await this.stop();
  }

  /** Counts the call, records what the client sent, then fails or delays as configured. */
  private handle<Res>(
    method: FakeKmsMethod,
    call: grpc.ServerUnaryCall<unknown, unknown>,
    callback: grpc.sendUnaryData<Res>,
    answer: () => Res,
  ): void {
    this.calls[method] += 1;
    this.lastAuthority = call.getHost();
    this.lastMetadata = call.metadata.clone();
    const respond = (): void => {
      const failure = this.failures.get(method);
      if (failure !== undefined) {
        callback({ code: failure.code, details: failure.message });
        return;
      }
      try {
        callback(null, answer());
      } catch (err) {
        const code = err instanceof FakeKmsError ? err.code : grpc.status.INTERNAL;
        callback({ code, details: err instanceof Error ? err.message : String(err) });
      }
    };
    const delayMs = this.delays.get(method);
    if (delayMs === undefined) {
      respond();
      return;
    }
    const timer = setTimeout(() => {
      this.pendingTimers.delete(timer);
      if (!call.cancelled) respond();
    }, delayMs);
    this.pendingTimers.add(timer);
  }

  private v2Handlers(): V2KeyManagementServiceHandlers {
    return {
      Status: (call, callback) =>
        this.handle("v2Status", call, callback, () => ({
          version: this.statusVersion,
          healthz: this.healthz,
          key_id: this.keyId,
        })),
      Encrypt: (call, callback) => {
        this.uids.push(call.request.uid);
        this.handle("v2Encrypt", call, callback, () => {
          if (this.encryptResponseOverride !== undefined) return this.encryptResponseOverride(call.request);
          return {
            ciphertext: Buffer.from(call.request.plaintext.toString("base64")),
            key_id: this.keyId,
            annotations: { ...this.annotations },
          };
        });
      },
      Decrypt: (call, callback) => {
        const request = call.request;
        this.uids.push(request.uid);
        this.lastV2DecryptRequest = request;
        this.handle("v2Decrypt", call, callback, () => {
          if (request.uid.length === 0)
            throw new FakeKmsError(grpc.status.INVALID_ARGUMENT, "uid is required");
          if (request.key_id.length === 0)
            throw new FakeKmsError(grpc.status.INVALID_ARGUMENT, "keyID is required");
          if (
            this.requireMockAnnotation &&
            request.annotations[MOCK_ANNOTATION_NAME]?.toString() !== MOCK_ANNOTATION_VALUE
          ) {
            throw new FakeKmsError(grpc.status.INVALID_ARGUMENT, "invalid annotations");
          }
          return { plaintext: decodeBase64Strict(request.ciphertext) };
        });
      },
    };
  }

  private v1Handlers(): V1beta1KeyManagementServiceHandlers {
    return {
      Version: (call, callback) => {
        this.v1RequestVersions.push(call.request.version);
        this.handle("v1Version", call, callback, () => ({
          version: this.v1Version,
          runtime_name: "fake-kms-plugin",
          runtime_version: "0.0.1",
        }));
      },
      Encrypt: (call, callback) => {
        this.v1RequestVersions.push(call.request.version);
        this.handle("v1Encrypt", call, callback, () => ({
          cipher: Buffer.from(call.request.plain.toString("base64")),
        }));
      },
      Decrypt: (call, callback) => {
        this.v1RequestVersions.push(call.request.version);
        this.handle("v1Decrypt", call, callback, () => ({ plain: decodeBase64Strict(call.request.cipher) }));
      },
    };
  }
}

class FakeKmsError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

function decodeBase64Strict(ciphertext: Buffer): Buffer {
  const text = ciphertext.toString("latin1");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new FakeKmsError(grpc.status.INVALID_ARGUMENT, "ciphertext is not base64");
  }
  return Buffer.from(text, "base64");
}

function zeroCounts(): Record<FakeKmsMethod, number> {
  return { v2Status: 0, v2Encrypt: 0, v2Decrypt: 0, v1Version: 0, v1Encrypt: 0, v1Decrypt: 0 };
}

/** Starts a fake plugin serving KMS v2 and v1beta1 on `socketPath`; `await plugin.close()` when done. */
export async function startFakeKmsPlugin(options: FakeKmsPluginOptions): Promise<FakeKmsPlugin> {
  const plugin = new FakeKmsPlugin(options);
  await plugin.start();
  return plugin;
}
