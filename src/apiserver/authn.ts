import { createHash } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { AtrestError } from "../common/errors.js";

/** Authentication: bearer tokens from kube's static token CSV file, and client certificates (CN = user, O = groups). */

export interface UserInfo {
  readonly name: string;
  readonly uid: string;
  readonly groups: readonly string[];
}

export interface TokenEntry extends UserInfo {
  readonly token: string;
}

/** Splits one CSV record (RFC 4180 quoting). */
function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** kube's --token-auth-file: `token,user,uid,"group1,group2"` per line. */
export function parseTokenFile(text: string): TokenEntry[] {
  const entries: TokenEntry[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const cols = parseCsvLine(line).map((c) => c.trim());
    const [token, name, uid, groups] = cols;
    if (token === undefined || token === "" || name === undefined || name === "" || uid === undefined) {
      throw new AtrestError(
        "invalid-argument",
        `token auth file line ${i + 1}: need at least token,user,uid`,
      );
    }
    if (seen.has(token))
      throw new AtrestError("invalid-argument", `token auth file line ${i + 1}: duplicate token`);
    seen.add(token);
    entries.push({
      token,
      name,
      uid,
      groups:
        groups === undefined || groups === ""
          ? []
          : groups
              .split(",")
              .map((g) => g.trim())
              .filter((g) => g !== ""),
    });
  });
  return entries;
}

export interface Authenticator {
  /** undefined: no credentials offered; throws "unauthenticated" on bad credentials. */
  authenticate(authorization: string | undefined, socket: TLSSocket | undefined): UserInfo | undefined;
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

export function createAuthenticator(options: {
  tokens: readonly TokenEntry[];
  clientCertificates: boolean;
}): Authenticator {
  const byDigest = new Map(options.tokens.map((t) => [digest(t.token).toString("hex"), t]));
  return {
    authenticate(authorization, socket) {
      if (authorization !== undefined && authorization !== "") {
        const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
        if (!m) throw new AtrestError("unauthenticated", "Unauthorized");
        const d = digest(m[1] ?? "");
        // Looked up by the token's SHA-256: timing reveals nothing about the tokens themselves.
        const entry = byDigest.get(d.toString("hex"));
        if (entry === undefined) throw new AtrestError("unauthenticated", "Unauthorized");
        return { name: entry.name, uid: entry.uid, groups: [...entry.groups, "system:authenticated"] };
      }
      if (options.clientCertificates && socket !== undefined && socket.authorized) {
        const cert = socket.getPeerCertificate();
        const subject = cert.subject as unknown as Record<string, string | string[] | undefined> | undefined;
        const cn = subject?.CN;
        const name = Array.isArray(cn) ? cn[0] : cn;
        if (name !== undefined && name !== "") {
          const o = subject?.O;
          const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
          return { name, uid: "", groups: [...groups, "system:authenticated"] };
        }
      }
      return undefined;
    },
  };
}
