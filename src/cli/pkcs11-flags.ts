import { readSecretFile } from "../common/secret-file.js";
import { AtrestError } from "../common/errors.js";
import type { ProtectionBackend } from "../kms/protection/protection.js";

/** `--pkcs11-module`, `--pkcs11-token-label`, `--pkcs11-pin-file`, as `kms serve` and `kms restore` take them. */
export interface Pkcs11Flags {
  pkcs11Module?: string;
  pkcs11TokenLabel?: string;
  pkcs11PinFile?: string;
}

/** The HSM protection backend the flags name, or undefined without --pkcs11-module. */
export async function loadHsm(opts: Pkcs11Flags): Promise<ProtectionBackend | undefined> {
  if (opts.pkcs11Module === undefined) return undefined;
  if (opts.pkcs11TokenLabel === undefined || opts.pkcs11PinFile === undefined) {
    throw new AtrestError(
      "invalid-argument",
      "--pkcs11-module needs --pkcs11-token-label and --pkcs11-pin-file",
    );
  }
  const pin = readSecretFile(opts.pkcs11PinFile, "--pkcs11-pin-file").toString("utf8").trim();
  // Loaded only when asked for, so the server starts without the native pkcs11js module otherwise.
  const { createPkcs11Protection } = await import("../kms/protection/pkcs11.js");
  return createPkcs11Protection({ modulePath: opts.pkcs11Module, tokenLabel: opts.pkcs11TokenLabel, pin });
}
