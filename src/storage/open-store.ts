import { readFileSync } from "node:fs";
import { AtrestError } from "../common/errors.js";
import { EtcdStore, type EtcdTlsOptions } from "./etcd-store.js";
import { MemoryStore } from "./memory-store.js";
import { SqliteStore, sqlitePathFromUrl } from "./sqlite-store.js";
import type { Store } from "./store.js";

/** Where the objects live: an etcd cluster, an embedded SQLite file, or memory (tests). */
export type StoreEndpoint =
  | {
      readonly etcdServers: readonly string[];
      readonly callTimeoutMs?: number;
      readonly tls?: EtcdTlsOptions;
    }
  | {
      readonly sqlitePath: string;
      readonly pollIntervalMs?: number;
      readonly synchronous?: "FULL" | "NORMAL";
    }
  | "memory";

export function openStore(endpoint: StoreEndpoint): Store {
  if (endpoint === "memory") return new MemoryStore();
  if ("etcdServers" in endpoint) {
    return new EtcdStore({
      endpoints: endpoint.etcdServers,
      ...(endpoint.callTimeoutMs === undefined ? {} : { callTimeoutMs: endpoint.callTimeoutMs }),
      ...(endpoint.tls === undefined ? {} : { tls: endpoint.tls }),
    });
  }
  return new SqliteStore({
    path: endpoint.sqlitePath,
    ...(endpoint.pollIntervalMs === undefined ? {} : { pollIntervalMs: endpoint.pollIntervalMs }),
    ...(endpoint.synchronous === undefined ? {} : { synchronous: endpoint.synchronous }),
  });
}

/**
 * The endpoint kube-style flags name: `--etcd-servers` (a comma list) wins, with `--etcd-cafile`,
 * `--etcd-certfile`, `--etcd-keyfile` for TLS (files read here); otherwise `--datastore-endpoint` as
 * `sqlite:///abs/path.db` or `memory://`.
 */
export function storeEndpointFromFlags(flags: {
  etcdServers?: string | undefined;
  etcdCafile?: string | undefined;
  etcdCertfile?: string | undefined;
  etcdKeyfile?: string | undefined;
  datastoreEndpoint?: string | undefined;
}): StoreEndpoint {
  const servers = (flags.etcdServers ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (servers.length > 0) {
    if (
      flags.etcdCafile === undefined &&
      (flags.etcdCertfile !== undefined || flags.etcdKeyfile !== undefined)
    ) {
      throw new AtrestError("invalid-argument", "--etcd-certfile and --etcd-keyfile need --etcd-cafile");
    }
    if (flags.etcdCafile === undefined) return { etcdServers: servers };
    return {
      etcdServers: servers,
      tls: {
        caCertPem: readFlagFile("--etcd-cafile", flags.etcdCafile),
        ...(flags.etcdCertfile === undefined
          ? {}
          : { clientCertPem: readFlagFile("--etcd-certfile", flags.etcdCertfile) }),
        ...(flags.etcdKeyfile === undefined
          ? {}
          : { clientKeyPem: readFlagFile("--etcd-keyfile", flags.etcdKeyfile) }),
      },
    };
  }
  const url = flags.datastoreEndpoint;
  if (url === undefined || url === "") {
    throw new AtrestError(
      "invalid-argument",
      "no datastore: give --etcd-servers or --datastore-endpoint sqlite:///path",
    );
  }
  if (url === "memory://") return "memory";
  if (url.startsWith("sqlite:")) return { sqlitePath: sqlitePathFromUrl(url) };
  throw new AtrestError(
    "invalid-argument",
    `--datastore-endpoint must be sqlite:///absolute/path.db or memory://, got "${url}"`,
    {
      details: { datastoreEndpoint: url },
    },
  );
}

function readFlagFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new AtrestError(
      "invalid-argument",
      `${flag}: cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? "error"}`,
      {
        cause: err,
        details: { flag, path },
      },
    );
  }
}
