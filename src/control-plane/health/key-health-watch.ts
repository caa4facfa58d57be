/**
 * Watches the KMS keys of the control plane's clusters: a round (`checkNow`, on the schedule of the
 * control plane's cluster watch, every DEFAULT_KEY_HEALTH_INTERVAL_MS by default) is one DescribeKey per
 * key as the service role (checkKeyHealth), and `onChange` when a cluster's issues differ from the last round
 * — the control plane records that as a cluster event (a Warning with the EKS code, or Normal when the
 * key is healthy again), so a person sees "key disabled" before the apiserver fails on it.
 */
import { systemClock, type Clock } from "../../common/clock.js";
import type { KmsClient } from "../../kms/client/index.js";
import { checkKeyHealth, issueOfError, type KeyHealth } from "./key-health.js";

export const DEFAULT_KEY_HEALTH_INTERVAL_MS = 60_000;

export interface WatchedKey {
  readonly clusterId: string;
  readonly keyId: string;
}

export interface KeyHealthWatchOptions {
  /** A KMS client signed as the service role, for one cluster's check (closed after it). */
  readonly kms: (cluster: WatchedKey) => Promise<KmsClient>;
  /** The clusters with a key now. */
  readonly clusters: () => Promise<readonly WatchedKey[]>;
  /** Called when a cluster's issues changed (`previous` undefined on the first round: only when unhealthy). */
  readonly onChange: (clusterId: string, health: KeyHealth, previous: KeyHealth | undefined) => Promise<void>;
  /**
   * The last health known elsewhere (the control plane's database, so an instance taking over does not
   * report again what another already did); default this watch's own memory.
   */
  readonly previous?: (clusterId: string) => Promise<KeyHealth | undefined>;
  /** Every check's result, changed or not (the control plane keeps it for DescribeClusterDetail). */
  readonly onChecked?: (clusterId: string, health: KeyHealth) => Promise<void>;
  readonly clock?: Clock;
}

const issueKey = (h: KeyHealth): string => `${h.keyId}|${h.issues.map((i) => i.code).join(",")}`;

export class KeyHealthWatch {
  readonly #o: KeyHealthWatchOptions;
  readonly #clock: Clock;
  readonly #last = new Map<string, KeyHealth>();
  #round: Promise<Map<string, KeyHealth>> | undefined;

  constructor(options: KeyHealthWatchOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** The last health seen per cluster. */
  last(clusterId: string): KeyHealth | undefined {
    return this.#last.get(clusterId);
  }

  /** One round now (shared with one in flight). */
  checkNow(): Promise<Map<string, KeyHealth>> {
    return (this.#round ??= this.#check().finally(() => (this.#round = undefined)));
  }

  async #checkOne(c: WatchedKey): Promise<KeyHealth> {
    let kms: KmsClient;
    try {
      kms = await this.#o.kms(c);
    } catch (err) {
      // No client (the service role cannot be assumed, the cluster's profile is unreadable): the
      // check's answer is that failure, as the plugin would meet it.
      const issues = [issueOfError(c.keyId, err)];
      return { keyId: c.keyId, healthy: false, issues, checkedAt: new Date(this.#clock.now()).toISOString() };
    }
    try {
      return await checkKeyHealth(kms, c.keyId, () => new Date(this.#clock.now()));
    } finally {
      kms.close();
    }
  }

  async #check(): Promise<Map<string, KeyHealth>> {
    const clusters = await this.#o.clusters();
    const out = new Map<string, KeyHealth>();
    if (clusters.length === 0) return out;
    for (const c of clusters) {
      const health = await this.#checkOne(c);
      out.set(c.clusterId, health);
      const previous =
        this.#o.previous === undefined ? this.#last.get(c.clusterId) : await this.#o.previous(c.clusterId);
      this.#last.set(c.clusterId, health);
      const changed = previous === undefined ? !health.healthy : issueKey(previous) !== issueKey(health);
      await this.#o.onChecked?.(c.clusterId, health);
      if (changed) await this.#o.onChange(c.clusterId, health, previous);
    }
    for (const id of [...this.#last.keys()]) if (!out.has(id)) this.#last.delete(id);
    return out;
  }
}
