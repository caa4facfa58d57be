import { badRequest } from "../status.js";

/** kube's continue token: base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"<key after prefix>\0"}. */

export function encodeContinue(rv: number, lastKeyAfterPrefix: string): string {
  return Buffer.from(
    JSON.stringify({ v: "meta.k8s.io/v1", rv, start: `${lastKeyAfterPrefix}\u0000` }),
  ).toString("base64url");
}

export function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const doc = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as {
      v?: unknown;
      rv?: unknown;
      start?: unknown;
    };
    // kube: rv 0 is invalid, -1 means "the latest revision" (handed out by a 410 for a compacted token).
    if (
      doc.v !== "meta.k8s.io/v1" ||
      typeof doc.rv !== "number" ||
      !Number.isSafeInteger(doc.rv) ||
      (doc.rv <= 0 && doc.rv !== -1) ||
      typeof doc.start !== "string"
    )
      throw new Error("bad token");
    const start = doc.start.endsWith("\u0000") ? doc.start.slice(0, -1) : doc.start;
    if (start.includes("..") || start.startsWith("/")) throw new Error("bad token");
    return { rv: doc.rv, start };
  } catch {
    throw badRequest("continue key is not valid: invalid continue token");
  }
}
