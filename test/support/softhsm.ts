import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** Where Debian's softhsm2 package puts the PKCS#11 module (the second path is a compatibility link). */
const MODULE_CANDIDATES = [
  "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/lib/softhsm/libsofthsm2.so",
  "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
];

export function findSoftHsmModule(): string | undefined {
  const fromEnv = process.env["ATREST_SOFTHSM_MODULE"];
  if (fromEnv !== undefined && existsSync(fromEnv)) return fromEnv;
  return MODULE_CANDIDATES.find((p) => existsSync(p));
}

export interface SoftHsmToken {
  readonly modulePath: string;
  readonly tokenLabel: string;
  readonly pin: string;
  readonly soPin: string;
  /** The temp dir holding the config, the token directory and a PIN file. */
  readonly dir: string;
  /** A file containing the user PIN (for `--pkcs11-pin-file`). */
  readonly pinFile: string;
  /** SOFTHSM2_CONF for this token: pass `env` to child processes that load the module. */
  readonly confPath: string;
  readonly env: Readonly<Record<string, string>>;
  cleanup(): void;
}

/**
 * Creates a fresh SoftHSM2 token in its own temp dir (`directories.tokendir` inside it) with
 * `softhsm2-util --init-token --free`. SoftHSM reads SOFTHSM2_CONF when the module is initialised, so
 * unless `setProcessEnv` is false this also points this process at the new config — do it before the
 * first C_Initialize in the process (one token configuration per process).
 */
export async function createSoftHsmToken(
  options: { label?: string; pin?: string; soPin?: string; setProcessEnv?: boolean } = {},
): Promise<SoftHsmToken> {
  const modulePath = findSoftHsmModule();
  if (modulePath === undefined) throw new Error("libsofthsm2.so not found; install the softhsm2 package");
  const dir = mkdtempSync(join(tmpdir(), "atrest-softhsm-"));
  const tokenDir = join(dir, "tokens");
  mkdirSync(tokenDir, { mode: 0o700 });
  const confPath = join(dir, "softhsm2.conf");
  writeFileSync(
    confPath,
    [
      `directories.tokendir = ${tokenDir}`,
      "objectstore.backend = file",
      "log.level = ERROR",
      "slots.removable = false",
      "slots.mechanisms = ALL",
      "library.reset_on_fork = false",
      "",
    ].join("\n"),
  );
  const tokenLabel = options.label ?? "atrest-test";
  const pin = options.pin ?? "1234";
  const soPin = options.soPin ?? "5678";
  const pinFile = join(dir, "pin");
  writeFileSync(pinFile, pin + "\n", { mode: 0o600 });
  const env = { SOFTHSM2_CONF: confPath };
  await execFileAsync(
    "softhsm2-util",
    ["--init-token", "--free", "--label", tokenLabel, "--pin", pin, "--so-pin", soPin],
    {
      env: { ...process.env, ...env },
      timeout: 30_000,
    },
  );
  if (options.setProcessEnv !== false) process.env["SOFTHSM2_CONF"] = confPath;
  return {
    modulePath,
    tokenLabel,
    pin,
    soPin,
    dir,
    pinFile,
    confPath,
    env,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
