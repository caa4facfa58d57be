/**
 * The rewrite engine: a storage migration through the Kubernetes API, as kube's StorageVersionMigration
 * and `kubectl replace` do it, made resumable and fast. Pages of a list (resumed from a cursor *key*
 * turned into a continue token with rv -1 — "continue at the latest revision", which kube-apiserver and
 * atrest apiserver both accept, so a compacted store can never lose our place); each object PUT back
 * exactly as read, with its resourceVersion: the apiserver writes only what it read as stale and
 * answers with a new resourceVersion when it did. A conflict means someone wrote the object meanwhile
 * (their write is under the new writer, and never overwritten): it is re-read and retried. Deleted
 * objects are skipped; 429 / Retry-After is honoured by the client. A checkpoint after every page.
 */
import { AtrestError, isAtrestError } from "../common/errors.js";
import type { Clock } from "../common/clock.js";
import type { KubeClient } from "./kube-client.js";
import type { Cursor, Progress } from "./operation-record.js";

export interface ResourcePaths {
  /** `secrets` or `<resource>.<group>`. */
  readonly name: string;
  /** The cluster-wide list, e.g. `/api/v1/secrets`. */
  readonly listPath: string;
  /** One object's path. */
  itemPath(namespace: string | undefined, name: string): string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

interface ObjectMeta {
  name: string;
  namespace?: string;
  resourceVersion?: string;
}
interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}
interface KubeList {
  apiVersion?: string;
  kind?: string;
  metadata?: { continue?: string; resourceVersion?: string };
  items?: KubeObject[];
}

/** kube's continue token for "the objects after `key`, at the latest revision" (base64url JSON, rv -1). */
export function continueTokenAfter(key: string): string {
  return Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv: -1, start: `${key}\u0000` })).toString(
    "base64url",
  );
}

/** Where a resource is served: discovery for its group's preferred version and whether it is namespaced. */
export async function resolveResource(
  kube: KubeClient,
  resource: string,
  retryForMs: number,
): Promise<ResourcePaths> {
  const dot = resource.indexOf(".");
  const plural = dot < 0 ? resource : resource.slice(0, dot);
  const group = dot < 0 ? "" : resource.slice(dot + 1);
  let groupVersion: string;
  if (group === "") groupVersion = "v1";
  else {
    const g = await kube.getJson<{ preferredVersion?: { groupVersion?: string } }>(`/apis/${group}`, {
      retryForMs,
    });
    groupVersion = g.preferredVersion?.groupVersion ?? "";
    if (groupVersion === "") throw new AtrestError("not-found", `the API group ${group} is not served`);
  }
  const base = group === "" ? "/api/v1" : `/apis/${groupVersion}`;
  const list = await kube.getJson<{
    resources?: Array<{ name: string; namespaced?: boolean; kind?: string }>;
  }>(base, {
    retryForMs,
  });
  const info = list.resources?.find((r) => r.name === plural);
  if (info === undefined)
    throw new AtrestError("not-found", `the resource ${resource} is not served by the apiserver (${base})`);
  const namespaced = info.namespaced === true;
  return {
    name: resource,
    listPath: `${base}/${plural}`,
    itemPath: (ns, name) =>
      namespaced
        ? `${base}/namespaces/${encodeURIComponent(ns ?? "")}/${plural}/${encodeURIComponent(name)}`
        : `${base}/${plural}/${encodeURIComponent(name)}`,
    apiVersion: groupVersion,
    kind: info.kind ?? "",
    namespaced,
  };
}

export interface RewriteFaults {
  /** Test hook: leave this object out (a "partial rewrite" that still reports done). */
  skipObject?(key: string): boolean;
}

export interface RewriteOptions {
  readonly kube: KubeClient;
  readonly resources: readonly ResourcePaths[];
  readonly cursor: Cursor;
  readonly progress: Progress;
  readonly pageSize: number;
  readonly concurrency: number;
  /** How long one request may keep failing (apiserver restart, 5xx) before the stage fails. */
  readonly retryForMs: number;
  readonly clock: Clock;
  /** Persists cursor + progress; throws to stop (the lease was lost). */
  checkpoint(cursor: Cursor, progress: Progress): Promise<void>;
  /** Before each page (e.g. the KMS plugin's health); throws to stop. */
  beforePage?(): Promise<void>;
  /** After each object (progress output). */
  onObject?(progress: Progress): void;
  readonly onRetry?: (why: string, waitMs: number) => void;
  readonly faults?: RewriteFaults;
}

const MAX_CONFLICT_RETRIES = 10;

function keyOf(o: KubeObject): string {
  return o.metadata.namespace === undefined || o.metadata.namespace === ""
    ? o.metadata.name
    : `${o.metadata.namespace}/${o.metadata.name}`;
}

/** Rewrites every object of every resource from the cursor on; mutates `progress`, returns the final cursor. */
export async function rewriteAll(options: RewriteOptions): Promise<Cursor> {
  const { kube, progress, clock } = options;
  const cursor: Cursor = { ...options.cursor };
  const startedMs = clock.now();
  const processedAtStart = progress.rewritten + progress.unchanged + progress.skippedDeleted;
  const rate = (): void => {
    const done = progress.rewritten + progress.unchanged + progress.skippedDeleted;
    const seconds = (clock.now() - startedMs) / 1000;
    progress.ratePerSecond = seconds > 0 ? Math.round(((done - processedAtStart) / seconds) * 10) / 10 : 0;
    progress.remaining = Math.max(progress.total - done, 0);
    progress.etaSeconds =
      progress.ratePerSecond > 0 ? Math.ceil(progress.remaining / progress.ratePerSecond) : null;
  };
  const request = {
    retryForMs: options.retryForMs,
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
  };

  const rewriteOne = async (paths: ResourcePaths, listed: KubeObject): Promise<void> => {
    let object = listed;
    const path = paths.itemPath(object.metadata.namespace, object.metadata.name);
    for (let attempt = 0; ; attempt++) {
      const sent = object.metadata.resourceVersion;
      try {
        const written = await kube.putJson<KubeObject>(
          path,
          { ...object, apiVersion: paths.apiVersion, kind: paths.kind },
          request,
        );
        if (written.metadata?.resourceVersion !== sent) progress.rewritten++;
        else progress.unchanged++;
        return;
      } catch (err) {
        if (isAtrestError(err, "not-found")) {
          progress.skippedDeleted++;
          return;
        }
        if (!isAtrestError(err, "conflict") || attempt >= MAX_CONFLICT_RETRIES) throw err;
        progress.conflictsRetried++;
      }
      try {
        object = await kube.getJson<KubeObject>(path, request);
      } catch (err) {
        if (isAtrestError(err, "not-found")) {
          progress.skippedDeleted++;
          return;
        }
        throw err;
      }
    }
  };

  for (; cursor.resourceIndex < options.resources.length; cursor.resourceIndex++, cursor.lastKey = null) {
    const paths = options.resources[cursor.resourceIndex]!;
    for (;;) {
      await options.beforePage?.();
      const query = new URLSearchParams({ limit: String(options.pageSize) });
      if (cursor.lastKey !== null) query.set("continue", continueTokenAfter(cursor.lastKey));
      const page = await kube.getJson<KubeList>(`${paths.listPath}?${query.toString()}`, request);
      const items = page.items ?? [];
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < items.length) {
          const item = items[next++]!;
          if (options.faults?.skipObject?.(keyOf(item)) === true) {
            progress.unchanged++;
          } else {
            await rewriteOne(paths, item);
          }
          rate();
          options.onObject?.(progress);
        }
      };
      await Promise.all(
        Array.from({ length: Math.max(1, Math.min(options.concurrency, items.length)) }, worker),
      );
      const last = items[items.length - 1];
      if (last !== undefined) cursor.lastKey = keyOf(last);
      const more = page.metadata?.continue !== undefined && page.metadata.continue !== "" && items.length > 0;
      if (!more) break;
      rate();
      await options.checkpoint({ ...cursor }, progress);
    }
  }
  cursor.done = true;
  cursor.resourceIndex = options.resources.length;
  rate();
  progress.remaining = 0;
  progress.etaSeconds = 0;
  await options.checkpoint({ ...cursor }, progress);
  return cursor;
}
