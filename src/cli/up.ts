import type { Command } from "commander";
import { parseGoDurationNs } from "../common/go-duration.js";
import { openClusterEngine } from "./cluster-engine.js";
import { addClusterWatchOptions, clusterWatchFrom, type ClusterWatchFlags } from "./cluster-watch-flags.js";
import { AtrestError } from "../common/errors.js";
import { createLogger } from "../common/logger.js";
import { storeEndpointFromFlags } from "../storage/open-store.js";
import { addEtcdTlsOptions, etcdTlsFrom, type EtcdTlsFlags } from "./etcd-tls-flags.js";
import { addServingLimitOptions, servingLimitsFrom, type ServingLimitFlags } from "./serving-limit-flags.js";
import { DEFAULT_UP_DATA_DIR, startUp, type UpSummary } from "../up/index.js";
import { untilStopSignal } from "./until-signal.js";

interface UpFlags extends EtcdTlsFlags, ServingLimitFlags, ClusterWatchFlags {
  dataDir: string;
  kmsListen?: string;
  pluginHealthListen?: string;
  securePort: string;
  bindAddress: string;
  etcdServers?: string;
  etcdPrefix: string;
  controlPlanePort: string;
  updateCooldown: string;
  pluginStatusRefresh: string;
  output?: string;
}

function summaryText(s: UpSummary): string {
  return [
    "atrest up: running (Ctrl-C stops it)",
    `  kubeconfig     ${s.kubeconfig}`,
    `  apiserver      ${s.apiserverUrl} (${s.store})`,
    `  kms            ${s.kmsEndpoint} (profile ${s.kmsProfile})`,
    `  sts/ram/trail  ${s.identityEndpoint} (the same profile: atrest iam --profile, atrest events --profile)`,
    `  plugin role    ${s.pluginRoleArn} (session ${s.pluginRoleSessionName})`,
    `  plugin socket  ${s.pluginSocket}${s.pluginHealthUrl === undefined ? "" : ` (health ${s.pluginHealthUrl})`}`,
    `  kms key        ${s.keyId} (${s.keyAlias}${s.keyCreated ? ", created now" : ""})`,
    `  cluster file   ${s.clusterFile}`,
    ...(s.controlPlaneUrl === undefined
      ? []
      : [`  control plane  ${s.controlPlaneUrl} (cs API; cluster ${s.clusterId ?? "?"}; the same profile)`]),
    ...(s.consoleUrl === undefined
      ? []
      : [`  console        ${s.consoleUrl} (sign in with the profile's AccessKey ID and Secret)`]),
    "",
    `  kubectl --kubeconfig ${s.kubeconfig} create secret generic demo --from-literal=password=s3cr3t`,
    `  atrest kms describe-key --profile ${s.kmsProfile} --key-id ${s.keyAlias}`,
    `  atrest events --profile ${s.kmsProfile} --user aliyuncsmanagedsecurityrole --event-name Decrypt`,
    `  atrest encryption status --cluster ${s.clusterFile}`,
    "",
  ].join("\n");
}

/** `atrest up`: kms + plugin + apiserver with the embedded defaults, state in one data dir. */
export function registerUp(program: Command): void {
  const cmd = program.command("up");
  addClusterWatchOptions(addServingLimitOptions(addEtcdTlsOptions(cmd)))
    .description(
      "run atrest kms, the KMS plugin and the apiserver (Secrets encrypted with a KMS key) on this machine",
    )
    .option("--data-dir <dir>", "all state: KMS keys, datastore, certificates, tokens", DEFAULT_UP_DATA_DIR)
    .option("--kms-listen <host:port>", "KMS address (default 127.0.0.1 on a free port)")
    .option("--plugin-health-listen <host:port>", "serve the plugin's /healthz, /livez, /metrics here")
    .option("--secure-port <port>", "apiserver HTTPS port (0 = a free port)", "6443")
    .option("--bind-address <ip>", "apiserver address", "127.0.0.1")
    .option("--etcd-servers <urls>", "comma-separated etcd client URLs (instead of SQLite in the data dir)")
    .option("--etcd-prefix <prefix>", "key prefix for every object", "/registry")
    .option(
      "--control-plane-port <port>",
      "control plane (cs API) port on the KMS's host (0 = a free port)",
      "0",
    )
    .option("--update-cooldown <duration>", "how long UpdateKMSEncryption answers 409 after a change", "5m")
    .option(
      "--plugin-status-refresh <duration>",
      "how often the plugin re-reads its KMS key (a rotation shows in its key_id after at most this)",
      "1m",
    )
    .option("-o, --output <format>", "json: print one JSON line when ready")
    .action(async (flags: UpFlags) => {
      const port = Number(flags.securePort);
      if (!/^\d+$/.test(flags.securePort) || port > 65535)
        throw new AtrestError(
          "invalid-argument",
          `--secure-port must be a port number, got "${flags.securePort}"`,
        );
      if (flags.output !== undefined && flags.output !== "json")
        throw new AtrestError("invalid-argument", `-o must be json, got "${flags.output}"`);
      const limits = servingLimitsFrom(flags);
      const cpPort = Number(flags.controlPlanePort);
      if (!/^\d+$/.test(flags.controlPlanePort) || cpPort > 65535)
        throw new AtrestError(
          "invalid-argument",
          `--control-plane-port must be a port number, got "${flags.controlPlanePort}"`,
        );
      const cooldownNs = parseGoDurationNs(flags.updateCooldown);
      if (cooldownNs === undefined || cooldownNs < 0n)
        throw new AtrestError(
          "invalid-argument",
          `--update-cooldown must be a duration like 5m or 30s, got "${flags.updateCooldown}"`,
        );
      const clusterWatch = clusterWatchFrom(flags);
      const refreshNs = parseGoDurationNs(flags.pluginStatusRefresh);
      if (refreshNs === undefined || refreshNs < 100_000_000n)
        throw new AtrestError(
          "invalid-argument",
          `--plugin-status-refresh must be a duration of at least 100ms, got "${flags.pluginStatusRefresh}"`,
        );
      const logger = createLogger({ name: "atrest-up" });
      const signal = untilStopSignal({
        onForce: () => {
          process.stderr.write("atrest up: second signal, exiting without a clean stop\n");
          process.exit(130);
        },
      });
      const up = await startUp({
        dataDir: flags.dataDir,
        securePort: port,
        bindAddress: flags.bindAddress,
        etcdPrefix: flags.etcdPrefix,
        apiserverLimits: limits,
        clusterEngines: (cluster, o) => openClusterEngine(cluster, o),
        controlPlanePort: cpPort,
        updateCooldownMs: Number(cooldownNs / 1_000_000n),
        clusterWatch,
        pluginStatusRefreshMs: Number(refreshNs / 1_000_000n),
        logger,
        ...(flags.kmsListen === undefined ? {} : { kmsListen: flags.kmsListen }),
        ...(flags.pluginHealthListen === undefined ? {} : { pluginHealthListen: flags.pluginHealthListen }),
        ...(flags.etcdServers === undefined
          ? {}
          : {
              storeEndpoint: storeEndpointFromFlags({
                etcdServers: flags.etcdServers,
                ...etcdTlsFrom(flags),
              }),
            }),
      });
      process.stdout.write(
        flags.output === "json"
          ? JSON.stringify({ msg: "atrest up ready", ...up.summary }) + "\n"
          : summaryText(up.summary),
      );
      logger.info({ signal: await signal }, "up: stopping");
      await up.close();
      logger.info({}, "up: stopped");
      logger.flush();
    });
}
