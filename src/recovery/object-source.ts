/**
 * Where recovery reads objects from: a running store (etcd cluster, the apiserver's SQLite file) or
 * an etcd snapshot file (restored into a temporary member, etcd-snapshot.ts). Only read, never written.
 */
import { existsSync } from "node:fs";
import { AtrestError } from "../common/errors.js";
import { openStore, type StoreEndpoint } from "../storage/open-store.js";
import type { Store } from "../storage/store.js";
import { openEtcdSnapshot } from "./etcd-snapshot.js";

export type ObjectSource =
  | { readonly kind: "store"; readonly endpoint: Exclude<StoreEndpoint, "memory"> }
  | { readonly kind: "snapshot"; readonly file: string };

export interface OpenedSource {
  readonly store: Store;
  readonly description: string;
  close(): Promise<void>;
}

export async function openObjectSource(source: ObjectSource): Promise<OpenedSource> {
  if (source.kind === "snapshot") {
    const member = await openEtcdSnapshot(source.file);
    return { store: member.store, description: `etcd snapshot ${source.file}`, close: () => member.close() };
  }
  const endpoint = source.endpoint;
  if ("sqlitePath" in endpoint && !existsSync(endpoint.sqlitePath))
    // Opening would create an empty store: say what is wrong instead.
    throw new AtrestError("invalid-argument", `--datastore-endpoint: ${endpoint.sqlitePath} does not exist`);
  const store = openStore(endpoint);
  return {
    store,
    description:
      "etcdServers" in endpoint ? `etcd ${endpoint.etcdServers.join(",")}` : `sqlite ${endpoint.sqlitePath}`,
    close: () => store.close(),
  };
}

/** Every key under `prefix` as of `revision`, page by page. */
export async function* listAtRevision(
  store: Store,
  prefix: string,
  revision: number,
  pageSize = 500,
): AsyncGenerator<{ key: string; value: Buffer; modRevision: number }> {
  let startAfter: string | undefined;
  for (;;) {
    const page = await store.list(prefix, {
      limit: pageSize,
      revision,
      ...(startAfter === undefined ? {} : { startAfter }),
    });
    for (const kv of page.items) yield kv;
    const last = page.items[page.items.length - 1];
    if (!page.more || last === undefined) return;
    startAfter = last.key;
  }
}
