import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server as HttpsServer, type ServerOptions } from "node:https";
import type { Socket } from "node:net";

/**
 * How a TLS server holds its connections, as kube-apiserver's secure serving sets Go's http.Server
 * (SecureServingInfo.Serve): a client has 32 s to finish the TLS handshake and its request headers
 * (ReadHeaderTimeout, "just shy of requestTimeoutUpperBound"), an idle keep-alive connection is closed
 * after 90 s (IdleTimeout), and a request body must have arrived within the request timeout (kube's
 * --request-timeout, 60 s; Go has no body deadline, kube's timeout filter ends such a request). Plain
 * HTTP sent to the port is answered as Go's net/http answers it.
 */

export interface ServingTimeouts {
  /** TLS handshake plus request headers (Go's ReadHeaderTimeout; also its TLS handshake timeout). */
  readonly readHeaderTimeoutMs: number;
  /** An idle keep-alive connection (Go's IdleTimeout). */
  readonly idleTimeoutMs: number;
  /** The whole request, body included (kube's --request-timeout). */
  readonly requestTimeoutMs: number;
}

export const KUBE_SERVING_TIMEOUTS: ServingTimeouts = Object.freeze({
  readHeaderTimeoutMs: 32_000,
  idleTimeoutMs: 90_000,
  requestTimeoutMs: 60_000,
});

/** What Go's http.Server writes on the raw connection when a TLS port receives plain HTTP. */
export const PLAIN_HTTP_ON_TLS_RESPONSE =
  "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/** Go's tlsRecordHeaderLooksLikeHTTP: the first five bytes of a TLS record header. */
const HTTP_PREFIXES = ["GET /", "HEAD ", "POST ", "PUT /", "OPTIO"].map((p) => Buffer.from(p, "latin1"));

/** The https.createServer options that carry the timeouts. */
export function servingOptions(t: ServingTimeouts): ServerOptions {
  return {
    handshakeTimeout: t.readHeaderTimeoutMs,
    headersTimeout: t.readHeaderTimeoutMs,
    requestTimeout: t.requestTimeoutMs,
    keepAliveTimeout: t.idleTimeoutMs,
    // Node checks headersTimeout/requestTimeout on this interval (30 s by default, which would let a
    // 32 s limit run to a minute).
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(t.readHeaderTimeoutMs / 4))),
  };
}

/**
 * Sees the first bytes of every connection before TLS does: plain HTTP gets Go's 400 and is closed, a
 * connection silent for the read-header timeout is closed, anything else goes on to the TLS server as
 * if it had arrived untouched (Node's TLS socket takes data already read from the socket). Call it
 * right after creating the server, before anything else listens for "connection".
 */
export function guardTlsPort(server: HttpsServer, t: ServingTimeouts): void {
  const tlsListeners = server.listeners("connection") as Array<(socket: Socket) => void>;
  server.removeAllListeners("connection");
  server.on("connection", (socket: Socket) => {
    let seen: Buffer = Buffer.alloc(0);
    const silent = setTimeout(() => socket.destroy(), t.readHeaderTimeoutMs);
    silent.unref();
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const head = seen.subarray(0, 5);
      const couldBeHttp = HTTP_PREFIXES.some((p) => p.subarray(0, head.length).equals(head));
      if (couldBeHttp && seen.length < 5) return; // wait for the rest of the record header
      socket.off("data", onData);
      socket.off("error", onError);
      clearTimeout(silent);
      socket.pause();
      if (couldBeHttp) {
        socket.end(PLAIN_HTTP_ON_TLS_RESPONSE);
        socket.destroySoon();
        return;
      }
      socket.unshift(seen);
      for (const listener of tlsListeners) listener.call(server, socket);
    };
    const onError = (): void => {
      clearTimeout(silent);
      socket.destroy();
    };
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", () => clearTimeout(silent));
  });
}

/**
 * A fastify `serverFactory` for an HTTPS server held as above (fastify's own `https` option cannot
 * set the handshake timeout or see a connection's first bytes).
 */
export function tlsServerFactory(
  tls: { readonly keyPem: string; readonly certPem: string },
  t: ServingTimeouts = KUBE_SERVING_TIMEOUTS,
): (handler: (req: IncomingMessage, res: ServerResponse) => void) => HttpsServer {
  return (handler) => {
    const server = createServer({ key: tls.keyPem, cert: tls.certPem, ...servingOptions(t) }, handler);
    guardTlsPort(server, t);
    return server;
  };
}
