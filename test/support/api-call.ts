/** One HTTPS request to a test apiserver, as the admin unless told otherwise (tests of the REST surface). */
import { request } from "node:https";
import type { ApiServer } from "../../src/apiserver/index.js";

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json: () => Record<string, unknown>;
}

export function call(
  server: ApiServer,
  method: string,
  path: string,
  options: {
    token?: string | null;
    body?: string | Buffer;
    contentType?: string;
    accept?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Reply> {
  const url = new URL(path, server.url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    const token = options.token === undefined ? server.adminToken : options.token;
    if (token !== null && token !== undefined) headers.Authorization = `Bearer ${token}`;
    if (options.contentType !== undefined) headers["Content-Type"] = options.contentType;
    if (options.accept !== undefined) headers.Accept = options.accept;
    // Node sends a DELETE's body without framing unless told its length.
    if (options.body !== undefined) headers["Content-Length"] = String(Buffer.byteLength(options.body));
    const req = request(url, { method, headers, ca: server.caCertPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          json: () => JSON.parse(body.toString()) as Record<string, unknown>,
        });
      });
    });
    req.on("error", reject);
    req.end(options.body);
  });
}
