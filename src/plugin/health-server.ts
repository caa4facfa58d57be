/**
 * HTTP on --health-listen: /healthz (the KMS is reachable and the key usable — from the cached check,
 * so probing it costs no KMS call), /livez (the process works; a disabled key, a missing permission or
 * throttling do not fail it, since a restart fixes none of those), /metrics (Prometheus).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AtrestError } from "../common/errors.js";
import type { StatusCheck } from "./status-check.js";
import type { PluginMetrics } from "./metrics.js";

export interface HealthServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export function parseHostPort(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535)
    throw new AtrestError(
      "invalid-argument",
      `--health-listen ${JSON.stringify(value)}: expected HOST:PORT, e.g. 127.0.0.1:8787`,
    );
  return { host: match[1] ?? (match[2] || "0.0.0.0"), port };
}

export async function startHealthServer(options: {
  listen: string;
  statusCheck: StatusCheck;
  metrics: PluginMetrics;
  /** False once the gRPC server stopped serving (shutdown). */
  live: () => boolean;
}): Promise<HealthServer> {
  const { host, port } = parseHostPort(options.listen);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const text = (status: number, body: string): void => {
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
      res.end(body.endsWith("\n") ? body : `${body}\n`);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return text(405, "method not allowed");
    switch (path) {
      case "/healthz":
      case "/readyz": {
        const snap = options.statusCheck.snapshot();
        return snap.healthy ? text(200, "ok") : text(503, `kms unhealthy: ${snap.reason}`);
      }
      case "/livez":
        return options.live() ? text(200, "ok") : text(503, "the plugin is shutting down");
      case "/metrics":
        options.metrics.registry.metrics().then(
          (body) => {
            res.writeHead(200, { "content-type": options.metrics.registry.contentType });
            res.end(body);
          },
          () => text(500, "metrics unavailable"),
        );
        return;
      default:
        return text(404, "not found: try /healthz, /livez or /metrics");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
