import { tlsServerFactory } from "../../common/tls-serving.js";
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from "fastify";
import { AtrestError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { MAX_IDENTITY_PARAM_BYTES, type IdentityApi } from "../api/identity-api.js";

/**
 * The identity services' RPC endpoint as a fastify plugin: `GET|POST /` answers STS, RAM and
 * ActionTrail requests (told apart by Version). The control-plane server mounts it
 * (`app.register(identityRoutes, { api })`) beside its cs routes; `startIdentityServer` serves it alone.
 * Registered in its own encapsulated context, so its raw-body parser does not touch the host's routes.
 */
export const identityRoutes: FastifyPluginAsync<{ api: IdentityApi }> = (app, { api }) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    "*",
    { parseAs: "buffer", bodyLimit: MAX_IDENTITY_PARAM_BYTES },
    (_req, body, done) => done(null, body),
  );
  app.route({
    method: ["GET", "POST"],
    url: "/",
    handler: async (req, reply) => {
      const url = new URL(req.url, "http://x");
      const res = await api.handle({
        method: req.method,
        pathname: url.pathname,
        query: (req.query ?? {}) as Record<string, string | string[]>,
        headers: req.headers,
        rawBody: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        sourceIp: req.ip,
      });
      return reply
        .code(res.status)
        .header("content-type", "application/json;charset=utf-8")
        .send(JSON.stringify(res.body));
    },
  });
  return Promise.resolve();
};

export interface IdentityServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves the identity endpoint on its own listener (HTTPS with the given key pair, or plain HTTP). */
export async function startIdentityServer(options: {
  api: IdentityApi;
  host?: string;
  port?: number;
  tls?: { keyPem: string; certPem: string };
  logger?: Logger;
}): Promise<IdentityServer> {
  const base = { logger: false, exposeHeadRoutes: false } as const;
  const app: FastifyInstance =
    options.tls === undefined
      ? Fastify(base)
      : Fastify({ ...base, serverFactory: tlsServerFactory(options.tls) });
  await app.register(identityRoutes, { api: options.api });
  const host = options.host ?? "127.0.0.1";
  try {
    await app.listen({ host, port: options.port ?? 0 });
  } catch (err) {
    throw new AtrestError("unavailable", `identity endpoint: cannot listen on ${host}:${options.port ?? 0}`, {
      cause: err,
    });
  }
  const addr = app.server.address() as AddressInfo;
  const hostPart = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `${options.tls === undefined ? "http" : "https"}://${hostPart}:${addr.port}`;
  options.logger?.info({ url }, "identity endpoint listening");
  return { url, close: () => app.close() };
}
