/**
 * startPlugin: the KMS plugin in process — gRPC (KMS v2 + v1beta1) on a unix socket, the cached
 * Status check, and optionally the health/metrics HTTP server. The CLI (src/cli/plugin.ts) and
 * `atrest up` call it; tests too.
 */
import { chmodSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { AtrestError } from "../common/errors.js";
import { systemClock, type Clock } from "../common/clock.js";
import { systemRandom, type Random } from "../common/random.js";
import { silentLogger } from "../common/logger.js";
import { keyIdHash } from "../common/key-id-hash.js";
import type { KmsBackend } from "./backend.js";
import { createBackend, type BackendConfig } from "./backend-config.js";
import { kmsServiceDefinitions } from "./grpc-definitions.js";
import { createServiceImplementations } from "./grpc-service.js";
import { startHealthServer, type HealthServer } from "./health-server.js";
import { parseListenAddress, removeStaleSocket, type ListenAddress } from "../common/listen-address.js";
import { PluginMetrics } from "./metrics.js";
import { StatusCheck, type HealthSnapshot } from "./status-check.js";

export const DEFAULT_STATUS_REFRESH_MS = 60_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;

export interface PluginOptions {
  /** `unix:///path/kms.sock` or `unix:///@abstract-name`. */
  readonly listen: string;
  /** A backend config, or a ready backend (tests); the plugin closes either on close(). */
  readonly backend: BackendConfig | KmsBackend;
  /** How often the Encrypt+Decrypt check runs (Status and /healthz answer from it). */
  readonly statusRefreshMs?: number;
  /** Deadline for one check, retries included. */
  readonly probeTimeoutMs?: number;
  /** `HOST:PORT` for /healthz, /livez, /metrics; port 0 picks one. */
  readonly healthListen?: string;
  readonly logger?: Logger;
  readonly clock?: Clock;
  readonly random?: Random;
}

export interface RunningPlugin {
  readonly address: ListenAddress;
  /** Present when healthListen was given. */
  readonly health?: { readonly host: string; readonly port: number; readonly url: string };
  readonly metrics: PluginMetrics;
  readonly backend: KmsBackend;
  /** The cached check result (what Status and /healthz report). */
  status(): HealthSnapshot;
  /** Runs a check now (sharing one in flight); the next scheduled one follows `statusRefreshMs` after it. */
  checkNow(): Promise<HealthSnapshot>;
  /** Drains in-flight calls for up to `graceMs`, then cancels the rest; removes the socket file. */
  close(options?: { graceMs?: number }): Promise<void>;
}

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

function isBackend(value: BackendConfig | KmsBackend): value is KmsBackend {
  return typeof (value as KmsBackend).encrypt === "function";
}

export async function startPlugin(options: PluginOptions): Promise<RunningPlugin> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const logger = options.logger ?? silentLogger();
  const refreshMs = options.statusRefreshMs ?? DEFAULT_STATUS_REFRESH_MS;
  if (!Number.isFinite(refreshMs) || refreshMs < 10)
    throw new AtrestError("invalid-argument", "--status-refresh must be at least 10ms");
  const address = parseListenAddress(options.listen);
  const metrics = new PluginMetrics();
  const backend = isBackend(options.backend)
    ? options.backend
    : await createBackend(options.backend, {
        clock,
        random,
        onKmsCall: (action, outcome, ms) => metrics.observeKms(action, outcome, ms),
      });

  const statusCheck = new StatusCheck({
    backend,
    refreshMs,
    probeTimeoutMs: options.probeTimeoutMs ?? Math.min(10_000, Math.max(1_000, refreshMs)),
    clock,
    random,
    logger,
    onChange: (snap) => metrics.setHealth(snap.healthy, snap.keyId, snap.checkedAtMs),
  });

  const server = new grpc.Server({ "grpc.max_receive_message_length": 1 << 20 });
  const definitions = kmsServiceDefinitions();
  const impl = createServiceImplementations({
    backend,
    statusCheck,
    metrics,
    logger,
    clock,
    random,
    runtimeVersion: pkg.version,
  });
  server.addService(definitions.v2, impl.v2);
  server.addService(definitions.v1beta1, impl.v1beta1);

  let serving = false;
  let health: HealthServer | undefined;
  try {
    if (address.kind === "file") {
      // The directory is normally a hostPath the operator made; create it (owner-only) when missing.
      mkdirSync(dirname(address.path), { recursive: true, mode: 0o700 });
      await removeStaleSocket(address.path);
    }
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(address.grpcTarget, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      );
    }).catch((cause: unknown) => {
      throw new AtrestError(
        "unavailable",
        `cannot listen on ${address.display}: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    });
    // Only the apiserver's user (root on a control-plane node) may talk to the plugin.
    if (address.kind === "file") chmodSync(address.path, 0o600);
    serving = true;
    statusCheck.start();
    if (options.healthListen !== undefined) {
      health = await startHealthServer({
        listen: options.healthListen,
        statusCheck,
        metrics,
        live: () => serving,
      });
    }
  } catch (err) {
    statusCheck.stop();
    server.forceShutdown();
    await backend.close();
    throw err;
  }
  logger.info(
    {
      listen: address.display,
      backend: backend.description,
      statusRefreshMs: refreshMs,
      ...(health ? { healthListen: `${health.host}:${health.port}` } : {}),
    },
    "kms plugin serving",
  );

  let closing: Promise<void> | undefined;
  const close = async (closeOptions: { graceMs?: number } = {}): Promise<void> => {
    closing ??= (async () => {
      serving = false;
      statusCheck.stop();
      const graceMs = closeOptions.graceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn({ graceMs }, "kms plugin drain deadline passed; cancelling in-flight calls");
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await health?.close();
      // A check started before stop() may still be calling the KMS: let it finish (its probe deadline
      // bounds it) before the backend closes, so nothing runs or logs after close() resolves.
      await statusCheck.idle();
      await backend.close();
      const snap = statusCheck.snapshot();
      logger.info({ keyIdHash: snap.keyId ? keyIdHash(snap.keyId) : "" }, "kms plugin stopped");
    })();
    return closing;
  };

  return {
    address,
    ...(health
      ? {
          health: {
            host: health.host,
            port: health.port,
            url: `http://${health.host.includes(":") ? `[${health.host}]` : health.host}:${health.port}`,
          },
        }
      : {}),
    metrics,
    backend,
    status: () => statusCheck.snapshot(),
    checkNow: () => statusCheck.runCheck(),
    close,
  };
}
