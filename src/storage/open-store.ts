import { AtrestError } from "../common/errors.js";
import { EtcdStore } from "./etcd-store.js";
import { MemoryStore } from "./memory-store.js";
import { SqliteStore, sqlitePathFromUrl } from "./sqlite-store.js";
import type { Store } from "./store.js";

/** Where the objects live: an etcd cluster, an embedded SQLite file, or memory (tests). */
export type StoreEndpoint =
  | { readonly etcdServers: readonly string[]; readonly callTimeoutMs?: number }
  | { readonly sqlitePath: string; readonly pollIntervalMs?: number }
  | "memory";

export function openStore(endpoint: StoreEndpoint): Store {
  if (endpoint === "memory") return new MemoryStore();
  if ("etcdServers" in endpoint) {
    return new EtcdStore({
      endpoints: endpoint.etcdServers,
      ...(endpoint.callTimeoutMs === undefined ? {} : { callTimeoutMs: endpoint.callTimeoutMs }),
    });
  }
  return new SqliteStore({
    path: endpoint.sqlitePath,
    ...(endpoint.pollIntervalMs === undefined ? {} : { pollIntervalMs: endpoint.pollIntervalMs }),
  });
}

/**
 * The endpoint kube-style flags name: `--etcd-servers` (a comma list) wins; otherwise
 * `--datastore-endpoint` as `sqlite:///abs/path.db` or `memory://`.
 */
export function storeEndpointFromFlags(flags: { etcdServers?: string | undefined; datastoreEndpoint?: string | undefined }): StoreEndpoint {
  const servers = (flags.etcdServers ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (servers.length > 0) return { etcdServers: servers };
  const url = flags.datastoreEndpoint;
  if (url === undefined || url === "") {
    throw new AtrestError("invalid-argument", "no datastore: give --etcd-servers or --datastore-endpoint sqlite:///path");
  }
  if (url === "memory://") return "memory";
  if (url.startsWith("sqlite:")) return { sqlitePath: sqlitePathFromUrl(url) };
  throw new AtrestError("invalid-argument", `--datastore-endpoint must be sqlite:///absolute/path.db or memory://, got "${url}"`, {
    details: { datastoreEndpoint: url },
  });
}
