/**
 * A local KEK inside a PKCS#11 token (SoftHSM2 in tests, an HSM in production): a sensitive,
 * non-extractable AES-256 secret key found by label, used with CKM_AES_GCM inside the token.
 */
import { assertPrivateFile } from "../common/secret-file.js";
import { readFileSync } from "node:fs";
import pkcs11js from "pkcs11js";
import { AtrestError } from "../common/errors.js";
import { kekFingerprint, settle, type GcmOutput, type LocalKek } from "./local-kek.js";

export interface Pkcs11KekOptions {
  readonly modulePath: string;
  readonly tokenLabel: string;
  readonly pin: string;
  readonly keyLabel: string;
  /** Generate the key in the token when no key has `keyLabel` (explicit, so a typo cannot mint a new KEK). */
  readonly createIfMissing?: boolean;
}

export function readPinFile(path: string): string {
  assertPrivateFile(path, "PKCS#11 PIN file");
  try {
    return readFileSync(path, "utf8").trim();
  } catch (cause) {
    throw new AtrestError("invalid-argument", `cannot read the PKCS#11 PIN file ${path}`, { cause });
  }
}

function pkcs11Error(action: string, err: unknown): AtrestError {
  // pkcs11js messages name the CKR_ code and function; they never contain the PIN or key material.
  const what = err instanceof Error ? err.message.split("\n")[0] : String(err);
  return new AtrestError("failed-precondition", `PKCS#11 ${action} failed: ${what}`, { cause: err });
}

export async function openPkcs11Kek(options: Pkcs11KekOptions): Promise<LocalKek> {
  const p11 = new pkcs11js.PKCS11();
  try {
    p11.load(options.modulePath);
  } catch (err) {
    throw pkcs11Error(`loading module ${options.modulePath}`, err);
  }
  try {
    p11.C_Initialize();
  } catch (err) {
    if (!(err instanceof pkcs11js.Pkcs11Error && err.code === pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED))
      throw pkcs11Error("C_Initialize", err);
  }
  let session: Buffer | undefined;
  try {
    const slot = p11
      .C_GetSlotList(true)
      .find((s) => p11.C_GetTokenInfo(s).label.trim() === options.tokenLabel);
    if (slot === undefined)
      throw new AtrestError(
        "failed-precondition",
        `no PKCS#11 token labelled ${JSON.stringify(options.tokenLabel)} in ${options.modulePath}`,
      );
    session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      p11.C_Login(session, pkcs11js.CKU_USER, options.pin);
    } catch (err) {
      if (!(err instanceof pkcs11js.Pkcs11Error && err.code === pkcs11js.CKR_USER_ALREADY_LOGGED_IN))
        throw pkcs11Error("login (check --pkcs11-pin-file)", err);
    }
    const s = session;
    p11.C_FindObjectsInit(s, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_LABEL, value: options.keyLabel },
    ]);
    const found = p11.C_FindObjects(s, 2);
    p11.C_FindObjectsFinal(s);
    if (found.length > 1)
      throw new AtrestError(
        "failed-precondition",
        `more than one secret key is labelled ${JSON.stringify(options.keyLabel)} in the token`,
      );
    let key = found[0];
    if (key === undefined) {
      if (options.createIfMissing !== true) {
        throw new AtrestError(
          "failed-precondition",
          `no secret key labelled ${JSON.stringify(options.keyLabel)} in token ${JSON.stringify(options.tokenLabel)}; create it (--pkcs11-create-key)`,
        );
      }
      key = p11.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11js.CKA_LABEL, value: options.keyLabel },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: true },
      ]);
    }
    const keyHandle = key;
    const mechanism = (iv: Buffer, aad: Buffer) => ({
      mechanism: pkcs11js.CKM_AES_GCM,
      parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, ivBits: iv.length * 8, aad, tagBits: 128 },
    });
    const seal = (iv: Buffer, plaintext: Buffer, aad: Buffer): Promise<GcmOutput> =>
      settle(() => {
        try {
          p11.C_EncryptInit(s, mechanism(iv, aad), keyHandle);
          const out = p11.C_Encrypt(s, plaintext, Buffer.alloc(plaintext.length + 16));
          return {
            ciphertext: Buffer.from(out.subarray(0, out.length - 16)),
            tag: Buffer.from(out.subarray(out.length - 16)),
          };
        } catch (err) {
          throw pkcs11Error("C_Encrypt", err);
        }
      });
    const fingerprint = await kekFingerprint(seal);
    let closed = false;
    return {
      fingerprint,
      description: `pkcs11 token ${options.tokenLabel} key ${options.keyLabel}`,
      seal,
      open: (iv, sealed, aad) =>
        settle(() => {
          try {
            p11.C_DecryptInit(s, mechanism(iv, aad), keyHandle);
            const input = Buffer.concat([sealed.ciphertext, sealed.tag]);
            return Buffer.from(p11.C_Decrypt(s, input, Buffer.alloc(input.length)));
          } catch (cause) {
            throw new AtrestError("data-corrupt", "ciphertext failed authentication under the PKCS#11 KEK", {
              cause,
            });
          }
        }),
      close: () =>
        settle(() => {
          if (closed) return;
          closed = true;
          try {
            p11.C_CloseSession(s);
          } finally {
            p11.C_Finalize();
          }
        }),
    };
  } catch (err) {
    if (session !== undefined) {
      try {
        p11.C_CloseSession(session);
      } catch {
        // already failing; the original error matters
      }
    }
    try {
      p11.C_Finalize();
    } catch {
      // idem
    }
    throw err instanceof AtrestError ? err : pkcs11Error("setup", err);
  }
}
