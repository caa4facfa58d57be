import { randomBytes } from "node:crypto";
import { LRUCache } from "lru-cache";

/**
 * Console sessions, kept in this process's memory only: the cookie carries a random id and nothing
 * else, so the credentials a user signed in with never leave the server (never in a cookie, a page, a
 * log). A restart signs everyone out, which is the safe failure for a console.
 */
export interface ConsoleCredentials {
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly securityToken?: string;
}

/** Who signed in, as GetCallerIdentity answered for the credentials (nothing secret). */
export interface ConsoleIdentity {
  readonly accountId: string;
  readonly arn: string;
  readonly principalId: string;
  readonly identityType: string;
  /** The user name (or role:session), as the console shows it. */
  readonly displayName: string;
}

export interface ConsoleSession {
  readonly id: string;
  /** Sent by the page in the X-CSRF-Token header of every state-changing request. */
  readonly csrfToken: string;
  readonly identity: ConsoleIdentity;
  readonly credentials: ConsoleCredentials;
  readonly createdAtMs: number;
  /** How the user signed in: a console password (a session credential of its own) or an access key. */
  readonly via: "password" | "access-key";
}

export interface SessionStoreOptions {
  /** A session unused this long ends (default 30 minutes). */
  readonly idleTimeoutMs?: number;
  /** A session ends this long after sign-in, used or not (default 12 hours). */
  readonly maxAgeMs?: number;
  readonly maxSessions?: number;
  readonly now?: () => number;
  /**
   * Called once for each session that ends: signed out, idle or past its age (noticed when it is
   * next looked up), or evicted. Password sessions end their credential here.
   */
  readonly onEnd?: (session: ConsoleSession) => void;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60_000;
export const DEFAULT_MAX_AGE_MS = 12 * 3_600_000;
/** 32 random bytes, base64url: the session id and the CSRF token. */
const TOKEN_BYTES = 32;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export class SessionStore {
  readonly #sessions: LRUCache<string, ConsoleSession>;
  readonly #maxAgeMs: number;
  readonly #now: () => number;

  constructor(options: SessionStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.#sessions = new LRUCache({
      max: options.maxSessions ?? 10_000,
      ttl: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      updateAgeOnGet: true,
      perf: { now: this.#now },
      // Read the clock on every check (lru-cache otherwise caches it for a millisecond by a timer).
      ttlResolution: 0,
      ...(options.onEnd === undefined ? {} : { dispose: (s: ConsoleSession) => options.onEnd!(s) }),
    });
  }

  get idleTimeoutMs(): number {
    return this.#sessions.ttl;
  }

  get maxAgeMs(): number {
    return this.#maxAgeMs;
  }

  create(
    identity: ConsoleIdentity,
    credentials: ConsoleCredentials,
    via: ConsoleSession["via"] = "access-key",
  ): ConsoleSession {
    const session: ConsoleSession = Object.freeze({
      id: randomBytes(TOKEN_BYTES).toString("base64url"),
      csrfToken: randomBytes(TOKEN_BYTES).toString("base64url"),
      identity,
      credentials,
      createdAtMs: this.#now(),
      via,
    });
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id; refreshes its idle timer. */
  get(id: string | undefined): ConsoleSession | undefined {
    if (id === undefined || !TOKEN.test(id)) return undefined;
    const s = this.#sessions.get(id);
    if (s === undefined) return undefined;
    if (this.#now() - s.createdAtMs >= this.#maxAgeMs) {
      this.#sessions.delete(id);
      return undefined;
    }
    return s;
  }

  delete(id: string): void {
    this.#sessions.delete(id);
  }

  get size(): number {
    return this.#sessions.size;
  }
}
