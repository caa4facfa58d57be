import type { Clock } from "../../common/clock.js";
import type { Logger } from "../../common/logger.js";
import { metaOf, type KubeObject } from "../../kube-object/types.js";
import type { Registry, WatchHandle } from "../registry/index.js";
import { requireResource, type ResourceInfo } from "../resources.js";
import { RbacIndex } from "./rbac-index.js";

/**
 * The RBAC objects the authorizer decides by, kept as kube's informers keep them: each of the four kinds
 * listed, then watched from the list's resourceVersion, through the registry. A broken watch is listed and
 * watched again after a second; meanwhile the last known objects keep deciding. Writers of RBAC objects
 * wait (briefly) until the cache has seen their write, so a binding works as soon as it is created.
 */

const GROUP = "rbac.authorization.k8s.io";
const RESTART_DELAY_MS = 1_000;
export const DEFAULT_SETTLE_TIMEOUT_MS = 5_000;

type Listener = (obj: KubeObject, deleted: boolean) => void;

interface Waiter {
  readonly done: () => boolean;
  readonly resolve: (caughtUp: boolean) => void;
}

export class RbacCache {
  readonly index = new RbacIndex();
  private readonly kinds: readonly ResourceInfo[] = [
    "clusterroles",
    "clusterrolebindings",
    "roles",
    "rolebindings",
  ].map((r) => requireResource(r, GROUP));
  private readonly watches = new Map<string, WatchHandle>();
  /** Object key (`kind/namespace/name`) → the resourceVersion last seen. */
  private readonly seen = new Map<string, number>();
  /** Per kind, the keys present (a relist removes the others). */
  private readonly keysByKind = new Map<string, Set<string>>();
  private waiters: Waiter[] = [];
  private readonly listeners: Listener[] = [];
  private closed = false;

  constructor(
    private readonly registry: Registry,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Lists and watches every kind; resolves when all are listed (the server serves after that). */
  async start(): Promise<void> {
    await Promise.all(this.kinds.map((info) => this.follow(info)));
  }

  /** Called for every change (after the index has it), e.g. by the aggregation controller. */
  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  /** Resolves true once the object at `resourceVersion` (or later) is in the cache; false after the timeout. */
  waitForObject(
    kind: string,
    namespace: string,
    name: string,
    resourceVersion: string,
    timeoutMs = DEFAULT_SETTLE_TIMEOUT_MS,
  ): Promise<boolean> {
    const key = keyOf(kind, namespace, name);
    const rv = Number(resourceVersion);
    return this.wait(() => (this.seen.get(key) ?? 0) >= rv, timeoutMs);
  }

  /** Resolves true once the object is gone from the cache; false after the timeout. */
  waitForDeletion(
    kind: string,
    namespace: string,
    name: string,
    timeoutMs = DEFAULT_SETTLE_TIMEOUT_MS,
  ): Promise<boolean> {
    const key = keyOf(kind, namespace, name);
    return this.wait(() => !this.seen.has(key), timeoutMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    const watches = [...this.watches.values()];
    this.watches.clear();
    await Promise.all(watches.map((w) => w.cancel().catch(() => undefined)));
    for (const w of this.waiters.splice(0)) w.resolve(false);
  }

  private wait(done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      timer.unref?.();
      const waiter: Waiter = {
        done,
        resolve: (caughtUp) => {
          this.clock.clearTimeout(timer);
          resolve(caughtUp);
        },
      };
      this.waiters.push(waiter);
    });
  }

  private settle(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.done()) w.resolve(true);
      else still.push(w);
    }
    this.waiters = still;
  }

  private put(obj: KubeObject): void {
    const meta = metaOf(obj);
    const key = keyOf(String(obj.kind), meta.namespace ?? "", meta.name ?? "");
    this.index.put(obj);
    this.seen.set(key, Number(meta.resourceVersion ?? "0"));
    this.keysOf(String(obj.kind)).add(key);
    for (const l of this.listeners) l(obj, false);
  }

  private remove(obj: KubeObject): void {
    const meta = metaOf(obj);
    const kind = String(obj.kind);
    const key = keyOf(kind, meta.namespace ?? "", meta.name ?? "");
    this.index.delete(kind, meta.namespace ?? "", meta.name ?? "");
    this.seen.delete(key);
    this.keysOf(kind).delete(key);
    for (const l of this.listeners) l(obj, true);
  }

  private keysOf(kind: string): Set<string> {
    let set = this.keysByKind.get(kind);
    if (set === undefined) this.keysByKind.set(kind, (set = new Set()));
    return set;
  }

  /** One kind: list, replace what the cache had of it, watch from the list's revision. */
  private async follow(info: ResourceInfo): Promise<void> {
    if (this.closed) return;
    const page = await this.registry.list(info, undefined, {});
    const listed = new Set<string>();
    for (const obj of page.items) {
      const o = { ...obj, apiVersion: info.apiVersion, kind: info.kind };
      listed.add(keyOf(info.kind, metaOf(o).namespace ?? "", metaOf(o).name ?? ""));
      this.put(o);
    }
    for (const key of [...this.keysOf(info.kind)]) {
      if (listed.has(key)) continue;
      const [, namespace = "", name = ""] = key.split("/");
      this.remove({ apiVersion: info.apiVersion, kind: info.kind, metadata: { namespace, name } });
    }
    this.settle();
    const watch = await this.registry.watch(
      info,
      undefined,
      { resourceVersion: page.resourceVersion },
      {
        event: (type, obj) => {
          if (type === "DELETED") this.remove(obj);
          else this.put(obj);
          this.settle();
        },
        error: (err) => {
          this.logger.warn(
            { resource: info.resource, err: err.message },
            "rbac cache: watch ended; listing again",
          );
          this.restart(info);
        },
      },
    );
    if (this.closed) await watch.cancel().catch(() => undefined);
    else this.watches.set(info.resource, watch);
  }

  private restart(info: ResourceInfo): void {
    const old = this.watches.get(info.resource);
    this.watches.delete(info.resource);
    void old?.cancel().catch(() => undefined);
    if (this.closed) return;
    const timer = this.clock.setTimeout(() => {
      this.follow(info).catch((err: unknown) => {
        this.logger.warn(
          { resource: info.resource, err: err instanceof Error ? err.message : String(err) },
          "rbac cache: list failed; trying again",
        );
        this.restart(info);
      });
    }, RESTART_DELAY_MS);
    timer.unref?.();
  }
}

function keyOf(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}
