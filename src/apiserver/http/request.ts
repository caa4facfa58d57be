import type { IncomingMessage, ServerResponse } from "node:http";
import { entityTooLarge } from "../status.js";
import type { HandlerContext } from "./context.js";

/** One request in flight: what it asked for, and what the metrics and log line say about it. */

export const MAX_BODY_BYTES = 3 * 1024 * 1024; // kube-apiserver's request body limit (3 MiB)

export class Request {
  /** The verb as kube's metrics name it (GET, LIST, WATCH, POST, PUT, PATCH, DELETE, …). */
  verb = "GET";
  resource = "";
  code = 200;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly started = process.hrtime.bigint();

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    this.path = q < 0 ? url : url.slice(0, q);
    this.query = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
  }

  get method(): string {
    return this.req.method ?? "GET";
  }
}

/** The request body, refused past the context's limit (413) before or while it arrives. */
export async function readBody(ctx: HandlerContext, r: Request): Promise<Buffer> {
  const declared = Number(r.req.headers["content-length"] ?? "0");
  if (declared > ctx.maxBodyBytes) {
    r.req.resume();
    throw entityTooLarge(ctx.maxBodyBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of r.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > ctx.maxBodyBytes) {
      r.req.resume();
      throw entityTooLarge(ctx.maxBodyBytes);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}
