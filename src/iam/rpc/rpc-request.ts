import { setOwn } from "../../common/own-keys.js";
import { decodeJson } from "../../common/json-decode.js";
import { iamError } from "../iam-error.js";

/** A signed RPC request as the HTTP layer hands it over (fastify or any other). */
export interface RpcHttpRequest {
  method: string;
  pathname: string;
  /** The query string as parsed (repeated names give arrays), for the V3 canonical query. */
  query: Record<string, string | string[]>;
  /** Lower-case header names. */
  headers: Record<string, string | string[] | undefined>;
  rawBody: Buffer;
  sourceIp: string;
}

export function header(h: RpcHttpRequest["headers"], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Merges the query string and a form (or JSON object) body; body values win. */
export function mergeRpcParams(req: RpcHttpRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query)) {
    const s = Array.isArray(v) ? v[0] : v;
    if (s !== undefined) setOwn(out, k, s);
  }
  if (req.rawBody.length > 0) {
    const type = (header(req.headers, "content-type") ?? "").toLowerCase();
    const text = req.rawBody.toString("utf8");
    if (type.includes("application/json")) {
      let parsed: unknown;
      try {
        parsed = decodeJson(text);
      } catch {
        throw iamError("InvalidParameter", "request body: not valid JSON");
      }
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
        for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
          if (v === null || v === undefined) continue;
          setOwn(out, k, typeof v === "string" ? v : JSON.stringify(v));
        }
      }
    } else {
      for (const [k, v] of new URLSearchParams(text)) setOwn(out, k, v);
    }
  }
  return out;
}
