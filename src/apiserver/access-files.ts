import { readSecretFile } from "../common/secret-file.js";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Random } from "../common/random.js";
import {
  parseAuthorizationModes,
  parsePolicyFile,
  type AuthorizationMode,
  type PolicySpec,
} from "./authz/index.js";
import { parseTokenFile, type TokenEntry } from "./authn.js";

/**
 * Who may do what, from the server's flags: kube's --token-auth-file (or a generated admin token,
 * persisted beside the data), and --authorization-mode (kube's comma-separated list) with its ABAC policy
 * file.
 */

export interface TokenOptions {
  readonly tokenAuthFile?: string;
  readonly tokens?: readonly TokenEntry[];
  readonly dataDir?: string;
}

export interface AuthorizerOptions {
  /** kube's --authorization-mode: `RBAC`, `Node,RBAC`-style lists, or the modes themselves. Default AlwaysAllow. */
  readonly authorizationMode?: string | readonly AuthorizationMode[];
  readonly authorizationPolicyFile?: string;
}

export function loadTokens(
  options: TokenOptions,
  random: Random,
): { tokens: TokenEntry[]; admin: string | undefined } {
  const tokens: TokenEntry[] = [...(options.tokens ?? [])];
  if (options.tokenAuthFile !== undefined) {
    tokens.push(
      ...parseTokenFile(readSecretFile(options.tokenAuthFile, "--token-auth-file").toString("utf8")),
    );
    const admin = tokens.find((t) => t.groups.includes("system:masters")) ?? tokens[0];
    return { tokens, admin: admin?.token };
  }
  if (tokens.length > 0 && options.dataDir === undefined) return { tokens, admin: tokens[0]?.token };
  // No token file: generate an admin token (persisted beside the data when there is a data dir).
  let generated: TokenEntry[] | undefined;
  if (options.dataDir !== undefined) {
    const file = join(options.dataDir, "tokens.csv");
    if (existsSync(file)) generated = parseTokenFile(readSecretFile(file, "token file").toString("utf8"));
    else {
      const token = random.bytes(32).toString("base64url");
      mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(file, `${token},admin,${random.uuid()},"system:masters"\n`, { mode: 0o600 });
      generated = parseTokenFile(readFileSync(file, "utf8"));
    }
  } else {
    generated = [
      {
        token: random.bytes(32).toString("base64url"),
        name: "admin",
        uid: random.uuid(),
        groups: ["system:masters"],
      },
    ];
  }
  tokens.push(...generated);
  return { tokens, admin: generated[0]?.token };
}

/** The mode list, validated as kube validates it, and the ABAC policies when ABAC is among them. */
export function loadAuthorizationConfig(options: AuthorizerOptions): {
  modes: AuthorizationMode[];
  abacPolicies?: PolicySpec[];
} {
  const modes = parseAuthorizationModes(
    options.authorizationMode ?? "AlwaysAllow",
    options.authorizationPolicyFile,
  );
  if (!modes.includes("ABAC") || options.authorizationPolicyFile === undefined) return { modes };
  return { modes, abacPolicies: parsePolicyFile(readFileSync(options.authorizationPolicyFile, "utf8")) };
}
