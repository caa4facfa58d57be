import pkcs11js from "pkcs11js";
import type { Handle, PKCS11 } from "pkcs11js";
import { AtrestError } from "../../common/errors.js";

/**
 * A PKCS#11 module is process-wide state: C_Initialize once per process, C_Finalize ends every session
 * of every user of the module. So each module path is loaded once and shared with a reference count;
 * the last release finalizes it.
 */
export interface Pkcs11ModuleHandle {
  readonly pkcs11: PKCS11;
  readonly modulePath: string;
  release(): void;
}

interface Loaded {
  pkcs11: PKCS11;
  refs: number;
  /** False when someone else in the process had already initialized it: then we do not finalize. */
  finalizeOnRelease: boolean;
}

const loaded = new Map<string, Loaded>();

export function acquirePkcs11Module(modulePath: string): Pkcs11ModuleHandle {
  let entry = loaded.get(modulePath);
  if (entry === undefined) {
    const pkcs11 = new pkcs11js.PKCS11();
    try {
      pkcs11.load(modulePath);
    } catch (err) {
      throw new AtrestError("failed-precondition", `cannot load the PKCS#11 module ${modulePath}`, {
        cause: err,
        details: { modulePath },
      });
    }
    let finalizeOnRelease = true;
    try {
      pkcs11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (err) {
      if (pkcs11ErrorCode(err) === pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) finalizeOnRelease = false;
      else {
        pkcs11.close();
        throw new AtrestError(
          "unavailable",
          `C_Initialize of ${modulePath} failed: ${pkcs11ErrorName(err)}`,
          { cause: err, details: { modulePath } },
        );
      }
    }
    entry = { pkcs11, refs: 0, finalizeOnRelease };
    loaded.set(modulePath, entry);
  }
  entry.refs += 1;
  const e = entry;
  let released = false;
  return {
    pkcs11: e.pkcs11,
    modulePath,
    release() {
      if (released) return;
      released = true;
      e.refs -= 1;
      if (e.refs > 0) return;
      loaded.delete(modulePath);
      try {
        if (e.finalizeOnRelease) e.pkcs11.C_Finalize();
      } finally {
        e.pkcs11.close();
      }
    },
  };
}

// Some pkcs11js functions throw its Pkcs11Error, others a plain Error whose message is "CKR_NAME:code".
const CKR_MESSAGE = /^(CKR_[A-Z0-9_]+)(?::(\d+))?/;

/** The CKR_* code of a pkcs11js error, or undefined. */
export function pkcs11ErrorCode(err: unknown): number | undefined {
  if (err instanceof pkcs11js.Pkcs11Error) return err.code;
  if (!(err instanceof Error)) return undefined;
  const m = CKR_MESSAGE.exec(err.message);
  if (m === null) return undefined;
  if (m[2] !== undefined) return Number(m[2]);
  const byName = (pkcs11js as unknown as Record<string, unknown>)[m[1] ?? ""];
  return typeof byName === "number" ? byName : undefined;
}

/** `CKR_…` name of a pkcs11js error (safe to log: it never contains data), else the error's class. */
export function pkcs11ErrorName(err: unknown): string {
  if (!(err instanceof Error)) return "unknown error";
  const m = CKR_MESSAGE.exec(err.message);
  return m?.[1] ?? err.name;
}

/** The slot holding the initialized token whose CKA label (space-padded to 32 bytes) is `tokenLabel`. */
export function findSlotByTokenLabel(pkcs11: PKCS11, tokenLabel: string): Handle {
  const labels: string[] = [];
  for (const slot of pkcs11.C_GetSlotList(true)) {
    const info = pkcs11.C_GetTokenInfo(slot);
    const label = info.label.replace(/[\s\0]+$/, "");
    labels.push(label);
    if (label === tokenLabel && (info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0) return slot;
  }
  throw new AtrestError(
    "failed-precondition",
    `no initialized PKCS#11 token labelled "${tokenLabel}" (found: ${labels.map((l) => `"${l}"`).join(", ") || "none"})`,
    {
      details: { tokenLabel },
    },
  );
}
