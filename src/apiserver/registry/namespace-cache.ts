import type { Clock } from "../../common/clock.js";
import type { Watch } from "../../storage/decoded-value.js";
import type { TransformingStore } from "../../storage/transforming-store.js";
import { notFound } from "../status.js";

/**
 * The set of existing namespaces, kept from a list and a watch of the transforming store (kube-apiserver
 * checks namespaces against an informer cache too), so a create into a known namespace costs no store
 * call. A miss, or a broken watch, falls back to asking the store; a broken watch restarts after a second.
 */

const RESTART_DELAY_MS = 1_000;
const LIST_PAGE = 500;

export class NamespaceCache {
  private names: Set<string> | undefined;
  private watch: Watch | undefined;
  private closed = false;

  constructor(
    private readonly store: TransformingStore,
    /** The namespaces' key prefix, `<prefix>/namespaces/`. */
    private readonly prefix: string,
    private readonly clock: Clock,
  ) {}

  /** Resolves when the namespace exists; 404 for namespaces otherwise. */
  async require(namespace: string): Promise<void> {
    if (this.names?.has(namespace) === true) return;
    if (!(await this.store.has(this.prefix + namespace))) throw notFound("namespaces", namespace);
  }

  /** The namespace is being deleted: no new objects into it from here on (misses ask the store). */
  forget(namespace: string): void {
    this.names?.delete(namespace);
  }

  async start(): Promise<void> {
    if (this.closed) return;
    const prefix = this.prefix;
    try {
      const names = new Set<string>();
      let startAfter: string | undefined;
      let revision = 0;
      for (;;) {
        const page = await this.store.list(prefix, {
          limit: LIST_PAGE,
          ...(startAfter !== undefined ? { startAfter } : {}),
          ...(revision > 0 ? { revision } : {}),
        });
        if (revision === 0) revision = page.revision;
        for (const value of page.items) names.add(value.key.slice(prefix.length));
        if (!page.more || page.items.length === 0) break;
        startAfter = page.items[page.items.length - 1]?.key;
      }
      this.watch = await this.store.watch(
        prefix,
        revision,
        {
          onEvent: (ev) => {
            const key = ev.type === "put" ? ev.value.key : ev.key;
            // A value that does not decode is left to the store to answer for.
            if (ev.type === "put") names.add(key.slice(prefix.length));
            else names.delete(key.slice(prefix.length));
          },
          onError: () => this.restart(),
        },
        { decodePrevOnPut: false },
      );
      this.names = names;
    } catch {
      this.restart();
    }
  }

  private restart(): void {
    this.names = undefined;
    const w = this.watch;
    this.watch = undefined;
    void w?.cancel().catch(() => undefined);
    if (this.closed) return;
    const timer = this.clock.setTimeout(() => void this.start(), RESTART_DELAY_MS);
    timer.unref?.();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.names = undefined;
    await this.watch?.cancel().catch(() => undefined);
  }
}
