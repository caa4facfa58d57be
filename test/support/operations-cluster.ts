/**
 * A cluster for the operation tests: the all-real encryption system (atrest kms, the atrest plugin, an
 * apiserver with automatic reload on SQLite or etcd) plus a cluster file describing it, a REST client
 * and KMS client, and helpers to create Secrets quickly through the API and read them back.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KmsClient } from "../../src/kms/client/index.js";
import { storeScanner, type StoreScanner } from "../../src/scan/index.js";
import { loadClusterFile, renderClusterFile, type ClusterSpec } from "../../src/operations/cluster-file.js";
import { EncryptionOperations, type EngineOptions } from "../../src/operations/engine.js";
import { KubeClient } from "../../src/operations/kube-client.js";
import { loadKubeconfig } from "../../src/operations/kubeconfig.js";
import {
  IDENTITY,
  secretsConfig,
  startEncryptionSystem,
  type EncryptionSystem,
  type EncryptionSystemOptions,
} from "./encryption-system.js";

export interface OperationsCluster {
  readonly sys: EncryptionSystem;
  readonly clusterFile: string;
  readonly cluster: ClusterSpec;
  readonly kube: KubeClient;
  readonly kms: KmsClient;
  /** The read-only store scanner the CLI wires into the engine. */
  readonly scanner: StoreScanner;
  /** Creates `count` Secrets `s-<i>` in namespace `ns` (value `v-<i>-<marker>`), `concurrency` at a time. */
  createSecrets(ns: string, count: number, marker: string, concurrency?: number): Promise<void>;
  /** Every Secret's decoded data, by namespace/name, read through the API (but the operation's own). */
  secretValues(): Promise<Map<string, Record<string, string>>>;
  close(): Promise<void>;
}

/** The operation engine on the cluster, as the CLI wires it, with `extra` options (progress, faults, …). */
export function operationsOn(
  c: OperationsCluster,
  extra: Omit<EngineOptions, "cluster" | "kube" | "kms" | "scanner"> = {},
): EncryptionOperations {
  return new EncryptionOperations({
    cluster: c.cluster,
    kube: c.kube,
    kms: c.kms,
    scanner: c.scanner,
    ...extra,
  });
}

export async function startOperationsCluster(
  options: Partial<EncryptionSystemOptions> & { name: string; tunables?: string },
): Promise<OperationsCluster> {
  const sys = await startEncryptionSystem({
    store: "sqlite",
    config: () => secretsConfig([IDENTITY]),
    ...options,
  });
  try {
    const clusterFile = join(sys.dir, "cluster.yaml");
    const creds = JSON.parse(readFileSync(sys.profileFile, "utf8")) as { regionId: string };
    writeFileSync(
      clusterFile,
      renderClusterFile({
        name: options.name,
        region: creds.regionId,
        kubeconfig: sys.kubeconfig,
        apiservers: [{ url: sys.apiserver.url, configFile: sys.configFile }],
        store:
          sys.etcd !== undefined
            ? { etcd: { endpoints: sys.etcd.endpoints }, prefix: sys.etcdPrefix }
            : { sqlite: sys.sqlitePath!, prefix: sys.etcdPrefix },
        kmsProfile: sys.profileFile,
        plugins: [{ name: "atrest", endpoint: sys.pluginEndpoint, timeout: "5s" }],
      }) + (options.tunables ?? "operation: {convergeTimeout: 30s, retryTimeout: 10s, leaseDuration: 10s}\n"),
    );
    const cluster = loadClusterFile(clusterFile);
    const kube = new KubeClient(loadKubeconfig(sys.kubeconfig));
    const profile = JSON.parse(readFileSync(sys.profileFile, "utf8")) as {
      endpoint: string;
      regionId: string;
      accessKeyId: string;
      accessKeySecret: string;
      caFile: string;
    };
    const kms = new KmsClient(profile);
    const scanner = storeScanner({
      endpoint:
        sys.etcd !== undefined ? { etcdServers: sys.etcd.endpoints } : { sqlitePath: sys.sqlitePath! },
      prefix: sys.etcdPrefix,
      resources: cluster.resources,
    });
    const ensureNs = async (ns: string): Promise<void> => {
      await kube
        .postJson("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })
        .catch((err: unknown) => {
          if (!String(err).includes("AlreadyExists")) throw err;
        });
    };
    return {
      sys,
      clusterFile,
      cluster,
      kube,
      kms,
      scanner,
      async createSecrets(ns, count, marker, concurrency = 16) {
        await ensureNs(ns);
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < count) {
            const i = next++;
            await kube.postJson(`/api/v1/namespaces/${ns}/secrets`, {
              apiVersion: "v1",
              kind: "Secret",
              metadata: { name: `s-${i}` },
              stringData: { value: `v-${i}-${marker}` },
            });
          }
        };
        await Promise.all(Array.from({ length: concurrency }, worker));
      },
      async secretValues() {
        const out = new Map<string, Record<string, string>>();
        let cont: string | undefined;
        do {
          const list = await kube.getJson<{
            metadata: { continue?: string };
            items: Array<{ metadata: { namespace: string; name: string }; data?: Record<string, string> }>;
          }>(`/api/v1/secrets?limit=500${cont === undefined ? "" : `&continue=${cont}`}`);
          for (const s of list.items)
            // The operation's own Secret (the rendered configurations) changes by design.
            if (!(s.metadata.namespace === "kube-system" && s.metadata.name === "atrest-encryption-config"))
              out.set(
                `${s.metadata.namespace}/${s.metadata.name}`,
                Object.fromEntries(
                  Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
                ),
              );
          cont = list.metadata.continue || undefined;
        } while (cont !== undefined);
        return out;
      },
      async close() {
        kube.close();
        kms.close();
        await sys.close();
      },
    };
  } catch (err) {
    await sys.close();
    throw err;
  }
}

/** Asserts every stored Secret is of the given kind (from the bytes, read straight from the store). */
export async function assertStored(
  c: OperationsCluster,
  expect: "kms:v2" | "identity",
  keyId?: string,
): Promise<number> {
  const stored = await c.sys.storedSecrets();
  let n = 0;
  for (const [key, v] of stored) {
    if (expect === "identity") assert.equal(v.kind, "plaintext", `${key} is plaintext`);
    else {
      assert.equal(v.kind, "encrypted", `${key} is encrypted`);
      if (v.kind === "encrypted") {
        assert.equal(v.provider, "kms", `${key}: provider`);
        if (keyId !== undefined && "keyId" in v) assert.equal(v.keyId, keyId, `${key}: key_id`);
      }
    }
    n++;
  }
  return n;
}
