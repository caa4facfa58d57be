import { createHash, randomBytes } from "node:crypto";
import { LRUCache } from "lru-cache";
import pkcs11js from "pkcs11js";
import type { Handle, PKCS11, Template } from "pkcs11js";
import { AtrestError } from "../../common/errors.js";
import {
  acquirePkcs11Module,
  findSlotByTokenLabel,
  pkcs11ErrorCode,
  pkcs11ErrorName,
  type Pkcs11ModuleHandle,
} from "./pkcs11-module.js";
import type { GcmSealed, KeyVersionIdentity, ProtectionBackend, StoredKeyRef } from "./protection.js";

/**
 * HSM protection through PKCS#11: every key version is an AES-256 secret key generated inside the token
 * (CKM_AES_KEY_GEN) as a token object that is CKA_SENSITIVE and not CKA_EXTRACTABLE, and is used only
 * inside the token with CKM_AES_GCM. What the KMS stores (the StoredKeyRef) is only a reference to it.
 */
export interface Pkcs11ProtectionOptions {
  readonly modulePath: string;
  readonly tokenLabel: string;
  /** The user PIN. */
  readonly pin: string;
  /** Sessions opened for concurrent operations (each session runs one operation at a time). Default 4. */
  readonly maxSessions?: number;
}

/** Format tag of the StoredKeyRef JSON; a new layout gets a new tag, old refs stay readable. */
const REF_FORMAT = "atrest-kms/pkcs11-key-ref/v1";
const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;
const KEY_BYTES = 32;
const MAX_CACHED_HANDLES = 10_000;

/** What the key store keeps for an HSM key version: which token object holds its key. */
export interface Pkcs11KeyRef {
  readonly format: typeof REF_FORMAT;
  readonly keyId: string;
  readonly keyVersionId: string;
  readonly tokenLabel: string;
  /** CKA_ID, hex. */
  readonly ckaId: string;
  readonly ckaLabel: string;
}

export function encodePkcs11KeyRef(ref: Pkcs11KeyRef): StoredKeyRef {
  return Buffer.from(JSON.stringify(ref), "utf8");
}

/** Parses a StoredKeyRef written by this backend and checks that it belongs to `id`. */
export function decodePkcs11KeyRef(id: KeyVersionIdentity, bytes: StoredKeyRef): Pkcs11KeyRef {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new AtrestError("data-corrupt", "HSM key reference is not valid JSON", { cause: err });
  }
  const r = v as Partial<Pkcs11KeyRef> | null;
  if (
    r === null ||
    typeof r !== "object" ||
    r.format !== REF_FORMAT ||
    typeof r.ckaId !== "string" ||
    !/^[0-9a-f]{2,128}$/.test(r.ckaId) ||
    typeof r.ckaLabel !== "string" ||
    typeof r.tokenLabel !== "string"
  ) {
    throw new AtrestError("data-corrupt", `HSM key reference is not a ${REF_FORMAT} reference`);
  }
  if (r.keyId !== id.keyId || r.keyVersionId !== id.keyVersionId) {
    throw new AtrestError("data-corrupt", "HSM key reference belongs to another key version", {
      details: { keyId: id.keyId, keyVersionId: id.keyVersionId },
    });
  }
  return r as Pkcs11KeyRef;
}

/**
 * CKA_ID: 16 bytes derived from the key and version ids (so a token can be searched by key version)
 * followed by 8 random bytes (so a retried generate never collides with an orphan of an earlier try).
 */
function newCkaId(id: KeyVersionIdentity): Buffer {
  const derived = createHash("sha256")
    .update(`atrest-kms\0${id.keyId}\0${id.keyVersionId}`, "utf8")
    .digest()
    .subarray(0, 16);
  return Buffer.concat([derived, randomBytes(8)]);
}

function hsmError(
  operation: string,
  err: unknown,
  code: "unavailable" | "data-corrupt" | "internal" = "unavailable",
): AtrestError {
  // Only the CKR_ name goes into the message: never data, PINs or key material.
  return new AtrestError(code, `HSM ${operation} failed: ${pkcs11ErrorName(err)}`, {
    cause: err,
    details: { ckr: pkcs11ErrorName(err) },
  });
}

/**
 * Errors from C_Decrypt (after C_DecryptInit accepted the key and parameters) that mean "this
 * ciphertext/tag/AAD does not authenticate". The standard code is CKR_ENCRYPTED_DATA_INVALID; SoftHSM2
 * reports a GCM tag mismatch as CKR_GENERAL_ERROR, so that counts too at this step.
 */
const AUTH_FAILURES = new Set<number>([
  pkcs11js.CKR_ENCRYPTED_DATA_INVALID,
  pkcs11js.CKR_ENCRYPTED_DATA_LEN_RANGE,
  pkcs11js.CKR_GENERAL_ERROR,
]);

/** A fixed set of sessions; an operation borrows one and gives it back (or replaces it after an error). */
class SessionPool {
  readonly #idle: Handle[] = [];
  readonly #waiters: { resolve: (s: Handle) => void; reject: (e: Error) => void }[] = [];
  #open = 0;
  #closed = false;

  constructor(
    private readonly pkcs11: PKCS11,
    private readonly slot: Handle,
    private readonly max: number,
  ) {}

  openSession(): Handle {
    return this.pkcs11.C_OpenSession(this.slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  }

  async use<T>(fn: (session: Handle) => Promise<T> | T): Promise<T> {
    const session = await this.#acquire();
    let healthy = true;
    try {
      return await fn(session);
    } catch (err) {
      // A failed call may leave an operation active on the session: do not hand it to the next caller.
      healthy = false;
      throw err;
    } finally {
      this.#release(session, healthy);
    }
  }

  #acquire(): Promise<Handle> {
    if (this.#closed)
      return Promise.reject(new AtrestError("unavailable", "the HSM protection backend is closed"));
    const idle = this.#idle.pop();
    if (idle !== undefined) return Promise.resolve(idle);
    if (this.#open < this.max) {
      this.#open += 1;
      try {
        return Promise.resolve(this.openSession());
      } catch (err) {
        this.#open -= 1;
        return Promise.reject(hsmError("C_OpenSession", err));
      }
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  #release(session: Handle, healthy: boolean): void {
    let next: Handle | undefined = session;
    if (!healthy || this.#closed) {
      try {
        this.pkcs11.C_CloseSession(session);
      } catch {
        // already gone; nothing else to do
      }
      next = undefined;
      if (!this.#closed) {
        try {
          next = this.openSession();
        } catch {
          next = undefined;
        }
      }
      if (next === undefined) this.#open -= 1;
    }
    if (next === undefined) {
      // Let a waiter open a session of its own.
      const waiter = this.#waiters.shift();
      if (waiter !== undefined && !this.#closed) {
        try {
          this.#open += 1;
          waiter.resolve(this.openSession());
        } catch {
          this.#open -= 1;
          this.#waiters.unshift(waiter);
        }
      }
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter.resolve(next);
    else this.#idle.push(next);
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0))
      w.reject(new AtrestError("unavailable", "the HSM protection backend is closed"));
    for (const s of this.#idle.splice(0)) {
      try {
        this.pkcs11.C_CloseSession(s);
      } catch {
        // ignore
      }
    }
  }
}

/** Opens the token (find the slot by label, log in) and returns the HSM protection backend. */
export function createPkcs11Protection(options: Pkcs11ProtectionOptions): Promise<ProtectionBackend> {
  try {
    return Promise.resolve(openPkcs11Protection(options));
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

function openPkcs11Protection(options: Pkcs11ProtectionOptions): ProtectionBackend {
  const maxSessions = options.maxSessions ?? 4;
  if (!Number.isInteger(maxSessions) || maxSessions < 1 || maxSessions > 64) {
    throw new AtrestError("invalid-argument", "maxSessions must be an integer from 1 to 64");
  }
  const module: Pkcs11ModuleHandle = acquirePkcs11Module(options.modulePath);
  const { pkcs11 } = module;
  let pool: SessionPool;
  let anchor: Handle;
  try {
    const slot = findSlotByTokenLabel(pkcs11, options.tokenLabel);
    pool = new SessionPool(pkcs11, slot, maxSessions);
    // The login state belongs to the application and ends when its last session on the token closes,
    // so one session is held open, unused, for the backend's lifetime; the pool's sessions (replaced
    // after failures) are all logged in through it.
    anchor = pool.openSession();
    try {
      pkcs11.C_Login(anchor, pkcs11js.CKU_USER, options.pin);
    } catch (err) {
      if (pkcs11ErrorCode(err) !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) {
        pkcs11.C_CloseSession(anchor);
        const code = pkcs11ErrorCode(err) === pkcs11js.CKR_PIN_INCORRECT ? "unauthenticated" : "unavailable";
        throw new AtrestError(
          code,
          `login to PKCS#11 token "${options.tokenLabel}" failed: ${pkcs11ErrorName(err)}`,
          { cause: err },
        );
      }
    }
  } catch (err) {
    module.release();
    throw err;
  }

  // Object handles stay valid for the application while the object exists; cache them by CKA_ID
  // (bounded: one per key version in use, least recently used out; a miss costs one C_FindObjects).
  const handles = new LRUCache<string, Handle>({ max: MAX_CACHED_HANDLES });

  function findKey(session: Handle, ref: Pkcs11KeyRef): Handle {
    const cached = handles.get(ref.ckaId);
    if (cached !== undefined) return cached;
    const template: Template = [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_ID, value: Buffer.from(ref.ckaId, "hex") },
    ];
    pkcs11.C_FindObjectsInit(session, template);
    let found: Handle[];
    try {
      found = pkcs11.C_FindObjects(session, 2);
    } finally {
      pkcs11.C_FindObjectsFinal(session);
    }
    if (found.length !== 1 || found[0] === undefined) {
      throw new AtrestError(
        "data-corrupt",
        `HSM key for ${ref.keyId}/${ref.keyVersionId} is ${found.length === 0 ? "missing from" : "not unique in"} the token`,
        {
          details: { keyId: ref.keyId, keyVersionId: ref.keyVersionId, tokenLabel: ref.tokenLabel },
        },
      );
    }
    handles.set(ref.ckaId, found[0]);
    return found[0];
  }

  function gcm(iv: Buffer, aad: Buffer): pkcs11js.Mechanism {
    if (iv.length !== GCM_IV_BYTES)
      throw new AtrestError("invalid-argument", `AES-GCM IV must be ${GCM_IV_BYTES} bytes`);
    // pkcs11js's "v240" layout carries ulIvBits, which is what SoftHSM2 and the PKCS#11 2.40 errata headers use.
    return {
      mechanism: pkcs11js.CKM_AES_GCM,
      parameter: {
        type: pkcs11js.CK_PARAMS_AES_GCM_v240,
        iv,
        ivBits: GCM_IV_BYTES * 8,
        aad,
        tagBits: GCM_TAG_BYTES * 8,
      } as pkcs11js.GcmParams,
    };
  }

  const backend: ProtectionBackend = {
    level: "HSM",

    async generate(id) {
      const ckaId = newCkaId(id);
      const ckaLabel = `atrest-kms:${id.keyId}:${id.keyVersionId}`;
      const template: Template = [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_VALUE_LEN, value: KEY_BYTES },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: true },
        { type: pkcs11js.CKA_WRAP, value: false },
        { type: pkcs11js.CKA_UNWRAP, value: false },
        { type: pkcs11js.CKA_SIGN, value: false },
        { type: pkcs11js.CKA_VERIFY, value: false },
        { type: pkcs11js.CKA_DERIVE, value: false },
        { type: pkcs11js.CKA_LABEL, value: ckaLabel },
        { type: pkcs11js.CKA_ID, value: ckaId },
      ];
      const handle = await pool.use(async (session) => {
        try {
          return await pkcs11.C_GenerateKeyAsync(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, template);
        } catch (err) {
          throw hsmError("C_GenerateKey", err);
        }
      });
      const ref: Pkcs11KeyRef = {
        format: REF_FORMAT,
        keyId: id.keyId,
        keyVersionId: id.keyVersionId,
        tokenLabel: options.tokenLabel,
        ckaId: ckaId.toString("hex"),
        ckaLabel,
      };
      handles.set(ref.ckaId, handle);
      return encodePkcs11KeyRef(ref);
    },

    async encrypt(id, refBytes, iv, plaintext, aad): Promise<GcmSealed> {
      const ref = decodePkcs11KeyRef(id, refBytes);
      const mechanism = gcm(iv, aad);
      const out = await pool.use(async (session) => {
        const key = findKey(session, ref);
        try {
          pkcs11.C_EncryptInit(session, mechanism, key);
          // pkcs11js passes an empty buffer as a NULL pointer (CKR_ARGUMENTS_BAD); an empty message is
          // just the final block: the tag.
          if (plaintext.length === 0) return pkcs11.C_EncryptFinal(session, Buffer.alloc(GCM_TAG_BYTES));
          return await pkcs11.C_EncryptAsync(
            session,
            plaintext,
            Buffer.alloc(plaintext.length + GCM_TAG_BYTES),
          );
        } catch (err) {
          throw hsmError("AES-GCM encrypt", err);
        }
      });
      if (out.length !== plaintext.length + GCM_TAG_BYTES)
        throw new AtrestError("internal", "HSM AES-GCM output has an unexpected length");
      return {
        ciphertext: Buffer.from(out.subarray(0, plaintext.length)),
        tag: Buffer.from(out.subarray(plaintext.length)),
      };
    },

    async decrypt(id, refBytes, iv, sealed, aad) {
      const ref = decodePkcs11KeyRef(id, refBytes);
      if (sealed.tag.length !== GCM_TAG_BYTES)
        throw new AtrestError("data-corrupt", "ciphertext failed authentication");
      const mechanism = gcm(iv, aad);
      const input = Buffer.concat([sealed.ciphertext, sealed.tag]);
      return pool.use(async (session) => {
        const key = findKey(session, ref);
        try {
          pkcs11.C_DecryptInit(session, mechanism, key);
        } catch (err) {
          throw hsmError("AES-GCM decrypt init", err);
        }
        try {
          const out = await pkcs11.C_DecryptAsync(session, input, Buffer.alloc(input.length));
          return Buffer.from(out);
        } catch (err) {
          const code = pkcs11ErrorCode(err);
          if (code !== undefined && AUTH_FAILURES.has(code)) {
            throw new AtrestError("data-corrupt", "ciphertext failed authentication", { cause: err });
          }
          throw hsmError("AES-GCM decrypt", err);
        }
      });
    },

    async destroy(id, refBytes) {
      const ref = decodePkcs11KeyRef(id, refBytes);
      await pool.use((session) => {
        let handle: Handle;
        try {
          handle = findKey(session, ref);
        } catch (err) {
          if (err instanceof AtrestError && err.code === "data-corrupt" && err.message.includes("missing"))
            return; // idempotent
          throw err;
        }
        try {
          pkcs11.C_DestroyObject(session, handle);
        } catch (err) {
          handles.delete(ref.ckaId);
          if (pkcs11ErrorCode(err) === pkcs11js.CKR_OBJECT_HANDLE_INVALID) return; // destroyed meanwhile
          throw hsmError("C_DestroyObject", err);
        }
        handles.delete(ref.ckaId);
      });
    },

    close() {
      pool.close();
      try {
        pkcs11.C_CloseSession(anchor);
      } catch {
        // the module may already be finalized by another user
      }
      handles.clear();
      module.release();
      return Promise.resolve();
    },
  };
  return backend;
}
