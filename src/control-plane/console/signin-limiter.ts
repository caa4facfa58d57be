import { LRUCache } from "lru-cache";
import { AtrestError } from "../../common/errors.js";

export interface SignInLimits {
  /** Failed sign-ins allowed per user name in a window (default 5). */
  readonly perUser?: number;
  /** Failed sign-ins allowed from one client address in a window (default 20). */
  readonly perAddress?: number;
  /** The window, from the first failure counted (default 15 minutes). */
  readonly windowMs?: number;
  readonly now?: () => number;
}

interface Count {
  fails: number;
  readonly since: number;
}

/**
 * Slows password guessing: failed sign-ins are counted per user name and per client address; past
 * either limit the console refuses further attempts (even a right password) until the window from the
 * first failure ends, with a typed `SignIn.Throttled` and the wait in Retry-After. A success clears the
 * user's count (not the address's: one address guessing many users stays slowed). Counts live in this
 * process's memory, as the sessions do.
 */
export class SignInLimiter {
  readonly #users = new LRUCache<string, Count>({ max: 100_000 });
  readonly #addresses = new LRUCache<string, Count>({ max: 100_000 });
  readonly #perUser: number;
  readonly #perAddress: number;
  readonly #windowMs: number;
  readonly #now: () => number;

  constructor(limits: SignInLimits = {}) {
    this.#perUser = limits.perUser ?? 5;
    this.#perAddress = limits.perAddress ?? 20;
    this.#windowMs = limits.windowMs ?? 15 * 60_000;
    this.#now = limits.now ?? Date.now;
  }

  #live(map: LRUCache<string, Count>, key: string): Count | undefined {
    const c = map.get(key);
    if (c !== undefined && this.#now() - c.since >= this.#windowMs) {
      map.delete(key);
      return undefined;
    }
    return c;
  }

  /** Refuses an attempt while the user's or the address's failures are at their limit. */
  check(userName: string | undefined, address: string): void {
    const u = userName === undefined ? undefined : this.#live(this.#users, userName.toLowerCase());
    const a = this.#live(this.#addresses, address);
    const over =
      u !== undefined && u.fails >= this.#perUser
        ? { c: u, who: "for this user" }
        : a !== undefined && a.fails >= this.#perAddress
          ? { c: a, who: "from this address" }
          : undefined;
    if (over === undefined) return;
    const waitS = Math.max(1, Math.ceil((over.c.since + this.#windowMs - this.#now()) / 1000));
    throw new AtrestError(
      "resource-exhausted",
      `too many failed sign-in attempts ${over.who}: try again in ${Math.ceil(waitS / 60)} minute(s)`,
      { details: { code: "SignIn.Throttled", retryAfterSeconds: waitS } },
    );
  }

  failed(userName: string | undefined, address: string): void {
    const bump = (map: LRUCache<string, Count>, key: string) => {
      const c = this.#live(map, key);
      if (c === undefined) map.set(key, { fails: 1, since: this.#now() });
      else c.fails++;
    };
    if (userName !== undefined) bump(this.#users, userName.toLowerCase());
    bump(this.#addresses, address);
  }

  succeeded(userName: string | undefined): void {
    if (userName !== undefined) this.#users.delete(userName.toLowerCase());
  }
}
