/** Which backend to build, as validated typed values (options.ts produces them from flags/config). */
import { readFileSync, statSync } from "node:fs";
import { AtrestError } from "../common/errors.js";
import type { Clock } from "../common/clock.js";
import type { Random } from "../common/random.js";
import type { KmsBackend } from "./backend.js";
import { createAlibabaBackend, type AlibabaCredentials } from "./alibaba-backend.js";
import type { AssumeRoleSettings } from "./assumed-role-credentials.js";
import type { Logger } from "../common/logger.js";
import { createLocalBackend } from "./local-backend.js";
import { createMemoryKek, parseKeyFileContent, type LocalKek } from "./local-kek.js";
import { openPkcs11Kek, type Pkcs11KekOptions } from "./pkcs11-kek.js";

export type BackendConfig =
  | {
      readonly kind: "alibaba";
      readonly endpoint: string;
      readonly regionId: string;
      readonly keyId: string;
      readonly credentials: AlibabaCredentials;
      /** Sign KMS calls as this role's STS session (`credentials` then only assume it). */
      readonly assumeRole?: AssumeRoleSettings;
      readonly caPem?: string;
    }
  | {
      readonly kind: "local";
      /** The first KEK encrypts; the others only decrypt (older keys after a rotation). */
      readonly keks: readonly LocalKekConfig[];
    };

export type LocalKekConfig = { readonly keyFile: string } | ({ readonly pkcs11: true } & Pkcs11KekOptions);

/** Reads a key file, refusing one that group or others can read (it holds the KEK). */
export function readKeyFile(path: string): Buffer {
  let mode: number;
  let content: Buffer;
  try {
    mode = statSync(path).mode;
    content = readFileSync(path);
  } catch (cause) {
    throw new AtrestError("invalid-argument", `cannot read key file ${path}`, { cause });
  }
  if ((mode & 0o077) !== 0)
    throw new AtrestError(
      "failed-precondition",
      `key file ${path} is readable by group or others; chmod 600 it`,
    );
  return parseKeyFileContent(content, path);
}

export async function createBackend(
  config: BackendConfig,
  deps: {
    clock: Clock;
    random: Random;
    onKmsCall?: (action: string, outcome: "ok" | "error", durationMs: number) => void;
    logger?: Logger;
  },
): Promise<KmsBackend> {
  if (config.kind === "alibaba") {
    return createAlibabaBackend({
      ...(config.assumeRole === undefined ? {} : { assumeRole: config.assumeRole }),
      ...(deps.logger === undefined ? {} : { logger: deps.logger }),
      endpoint: config.endpoint,
      regionId: config.regionId,
      keyId: config.keyId,
      credentials: config.credentials,
      ...(config.caPem !== undefined ? { caPem: config.caPem } : {}),
      clock: deps.clock,
      ...(deps.onKmsCall ? { onKmsCall: deps.onKmsCall } : {}),
    });
  }
  const keks: LocalKek[] = [];
  try {
    for (const kek of config.keks) {
      keks.push(
        "keyFile" in kek
          ? await createMemoryKek(readKeyFile(kek.keyFile), `key file ${kek.keyFile}`)
          : await openPkcs11Kek(kek),
      );
    }
  } catch (err) {
    for (const kek of keks) await kek.close();
    throw err;
  }
  return createLocalBackend({ keks, random: deps.random });
}
