import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { AtrestError } from "../common/errors.js";
import { createLogger } from "../common/logger.js";
import { parseAuthorizationModes, startApiServer } from "../apiserver/index.js";
import { parseGoDurationNs } from "../common/go-duration.js";
import { openStore, storeEndpointFromFlags } from "../storage/open-store.js";
import { addEtcdTlsOptions, etcdTlsFrom, type EtcdTlsFlags } from "./etcd-tls-flags.js";
import { addServingLimitOptions, servingLimitsFrom, type ServingLimitFlags } from "./serving-limit-flags.js";
import type { Store } from "../storage/store.js";
import { serveUntilSignal } from "./until-signal.js";

interface ApiServerFlags extends EtcdTlsFlags, ServingLimitFlags {
  securePort: string;
  bindAddress: string;
  certDir?: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  etcdServers?: string;
  etcdPrefix: string;
  datastoreEndpoint?: string;
  dataDir: string;
  tokenAuthFile?: string;
  clientCaFile?: string;
  authorizationMode: string;
  authorizationPolicyFile?: string;
  kubeconfigOut?: string;
  encryptionProviderConfig?: string;
  encryptionProviderConfigAutomaticReload?: boolean;
  encryptionProviderConfigReloadInterval: string;
  etcdCompactionInterval: string;
}

/** Opens the store the flags name: etcd (--etcd-servers) or the embedded datastore (--datastore-endpoint). */
function openStoreFromFlags(flags: ApiServerFlags): {
  store: Store;
  checkName: "etcd" | "datastore";
  description: string;
} {
  const endpoint = storeEndpointFromFlags({
    etcdServers: flags.etcdServers,
    ...etcdTlsFrom(flags),
    datastoreEndpoint: flags.datastoreEndpoint ?? `sqlite://${join(resolve(flags.dataDir), "state.db")}`,
  });
  const description =
    endpoint === "memory"
      ? "memory"
      : "etcdServers" in endpoint
        ? `etcd ${endpoint.etcdServers.join(",")}`
        : `sqlite ${endpoint.sqlitePath}`;
  return {
    store: openStore(endpoint),
    checkName: endpoint !== "memory" && "etcdServers" in endpoint ? "etcd" : "datastore",
    description,
  };
}

/** `atrest apiserver`: the Kubernetes-compatible API server (kube-apiserver's flag names). */
export function registerApiserver(program: Command): void {
  const cmd = program
    .command("apiserver")
    .description(
      "serve the Kubernetes API for Secrets, ConfigMaps, ServiceAccounts and Namespaces over HTTPS",
    )
    .option("--secure-port <port>", "HTTPS port", "6443")
    .option("--bind-address <ip>", "address to listen on", "127.0.0.1")
    .option(
      "--cert-dir <dir>",
      "where the generated CA and serving certificate live (default <data-dir>/pki)",
    )
    .option("--tls-cert-file <file>", "serving certificate (PEM, chain allowed)")
    .option("--tls-private-key-file <file>", "serving key (PEM)")
    .option(
      "--etcd-servers <urls>",
      "comma-separated etcd client URLs (uses etcd instead of the embedded datastore)",
    )
    .option("--etcd-prefix <prefix>", "key prefix for every object", "/registry");
  addServingLimitOptions(addEtcdTlsOptions(cmd))
    .option(
      "--etcd-compaction-interval <duration>",
      "how often the store's old revisions are compacted (0 = never; applies to SQLite too)",
      "5m0s",
    )
    .option(
      "--datastore-endpoint <url>",
      "embedded datastore: sqlite:///path (default sqlite in the data dir)",
    )
    .option(
      "--data-dir <dir>",
      "state: certificates, generated tokens, the SQLite datastore",
      join(homedir(), ".atrest", "apiserver"),
    )
    .option(
      "--token-auth-file <file>",
      'static tokens (kube CSV: token,user,uid,"group1,group2"); default: a generated admin token',
    )
    .option("--client-ca-file <file>", "CA for client certificates (CN = user, O = groups)")
    .option(
      "--authorization-mode <modes>",
      "authorizers tried in order, comma-separated: RBAC, ABAC, AlwaysAllow, AlwaysDeny (kube's list)",
      "AlwaysAllow",
    )
    .option("--authorization-policy-file <file>", "ABAC policy (JSON lines)")
    .option("--kubeconfig-out <file>", "write an admin kubeconfig (CA + token) here")
    .option(
      "--encryption-provider-config <file>",
      "EncryptionConfiguration: how each resource is encrypted at rest (kube-apiserver's format)",
    )
    .option(
      "--encryption-provider-config-automatic-reload",
      "re-read the encryption configuration when the file changes (KMS checks become one kms-providers check)",
    )
    .option(
      "--encryption-provider-config-reload-interval <duration>",
      "with automatic reload, how often the file is read (atrest's; kube-apiserver's is fixed at 1m)",
      "1m",
    )
    .action(async (flags: ApiServerFlags) => {
      const port = Number(flags.securePort);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new AtrestError(
          "invalid-argument",
          `--secure-port must be a port number, got "${flags.securePort}"`,
        );
      // Checked before anything starts, with kube's messages.
      parseAuthorizationModes(flags.authorizationMode, flags.authorizationPolicyFile);
      const compactionNs = parseGoDurationNs(flags.etcdCompactionInterval);
      if (compactionNs === undefined || compactionNs < 0n)
        throw new AtrestError(
          "invalid-argument",
          `--etcd-compaction-interval must be a duration like 5m0s or 0, got "${flags.etcdCompactionInterval}"`,
        );
      const reloadNs = parseGoDurationNs(flags.encryptionProviderConfigReloadInterval);
      if (reloadNs === undefined || reloadNs < 1_000_000n)
        throw new AtrestError(
          "invalid-argument",
          `--encryption-provider-config-reload-interval must be a duration like 1m or 5s (at least 1ms), got "${flags.encryptionProviderConfigReloadInterval}"`,
        );
      const limits = servingLimitsFrom(flags);
      const logger = createLogger({ name: "apiserver" });
      const dataDir = resolve(flags.dataDir);
      const { store, checkName, description } = openStoreFromFlags(flags);
      const server = await startApiServer({
        store,
        storeCheckName: checkName,
        etcdPrefix: flags.etcdPrefix,
        compactionIntervalMs: Number(compactionNs / 1_000_000n),
        bindAddress: flags.bindAddress,
        securePort: port,
        dataDir,
        ...(flags.certDir !== undefined ? { certDir: flags.certDir } : {}),
        ...(flags.tlsCertFile !== undefined ? { tlsCertFile: flags.tlsCertFile } : {}),
        ...(flags.tlsPrivateKeyFile !== undefined ? { tlsPrivateKeyFile: flags.tlsPrivateKeyFile } : {}),
        ...(flags.tokenAuthFile !== undefined ? { tokenAuthFile: flags.tokenAuthFile } : {}),
        ...(flags.clientCaFile !== undefined ? { clientCaFile: flags.clientCaFile } : {}),
        authorizationMode: flags.authorizationMode,
        ...(flags.authorizationPolicyFile !== undefined
          ? { authorizationPolicyFile: flags.authorizationPolicyFile }
          : {}),
        ...(flags.kubeconfigOut !== undefined ? { kubeconfigOut: resolve(flags.kubeconfigOut) } : {}),
        ...(flags.encryptionProviderConfig !== undefined
          ? {
              encryptionProviderConfig: resolve(flags.encryptionProviderConfig),
              encryptionProviderConfigAutomaticReload: flags.encryptionProviderConfigAutomaticReload === true,
              encryptionReloadIntervalMs: Number(reloadNs / 1_000_000n),
            }
          : {}),
        ...limits,
        logger,
      });
      const ready = {
        url: server.url,
        store: description,
        kubeconfig: server.kubeconfigPath ?? null,
        encryptionProviderConfig: flags.encryptionProviderConfig ?? null,
      };
      logger.info(ready, "apiserver ready");
      process.stdout.write(JSON.stringify({ msg: "apiserver ready", ...ready }) + "\n");
      await serveUntilSignal(logger, async () => {
        await server.close();
        await store.close();
      });
      logger.info({}, "apiserver stopped");
      logger.flush();
    });
}
