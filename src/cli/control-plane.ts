import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { consoleMount, consoleUrlOf } from "../control-plane/console/index.js";
import { AtrestError } from "../common/errors.js";
import { createLogger } from "../common/logger.js";
import { parseGoDurationNs } from "../common/go-duration.js";
import {
  CLUSTER_ROLES,
  CsClient,
  DEFAULT_TASK_LEASE_MS,
  DEFAULT_UPDATE_COOLDOWN_MS,
  startControlPlane,
} from "../control-plane/index.js";
import { loadKmsProfile } from "../kms/client/index.js";
import { openSharedIdentity, parseListen } from "../kms/index.js";
import { openClusterEngine } from "./cluster-engine.js";
import { addClusterWatchOptions, clusterWatchFrom, type ClusterWatchFlags } from "./cluster-watch-flags.js";
import { serveUntilSignal } from "./until-signal.js";

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

function durationMs(value: string, flag: string): number {
  const ns = parseGoDurationNs(value);
  if (ns === undefined || ns < 0n)
    throw new AtrestError("invalid-argument", `${flag}: must be a duration like 5m, 30s or 0s`);
  return Number(ns / 1_000_000n);
}

interface ClientFlags {
  profile: string;
  endpoint?: string;
  output?: string;
}

/** The admin's profile (kms-profile.json) signs control-plane calls too; its endpoint from the flag or the profile. */
function clientFrom(flags: ClientFlags): CsClient {
  const p = loadKmsProfile(flags.profile);
  const endpoint = flags.endpoint ?? p.controlPlaneEndpoint;
  if (endpoint === undefined)
    throw new AtrestError(
      "invalid-argument",
      "--endpoint: the control plane's URL (or controlPlaneEndpoint in the profile) is required",
    );
  return new CsClient({
    endpoint,
    accessKeyId: p.accessKeyId,
    accessKeySecret: p.accessKeySecret,
    ...(p.caFile === undefined ? {} : { caPem: readFileSync(p.caFile, "utf8") }),
  });
}

/** `atrest control-plane …`: serve the control plane; register clusters and grant cluster roles through it. */
export function registerControlPlane(program: Command): void {
  const cp = program
    .command("control-plane")
    .description("the control plane: the cs API (2015-12-15) for clusters and their Secret encryption");

  addClusterWatchOptions(cp.command("serve"))
    .description(
      "serve the cs API and the identity services over HTTPS, sharing a KMS data dir's identity store",
    )
    .requiredOption("--kms-data-dir <dir>", "the KMS data dir whose identity store (and database) to share")
    .option("--database <url>", "the KMS's postgres:// URL (default: its SQLite in the data dir)")
    .option("--listen <host:port>", "address to listen on", "127.0.0.1:9444")
    .option("--insecure-http", "plain HTTP (loopback only)")
    .option(
      "--kms-endpoint <url>",
      "the KMS (https://host:port) the web console's KMS pages call; with it the console is served at /console/ (HTTPS only)",
    )
    .option("--update-cooldown <duration>", "how long UpdateKMSEncryption answers 409 after a change", "5m")
    .option(
      "--task-lease <duration>",
      "a task not renewed for this long is taken over by another instance",
      "30s",
    )
    .action(
      async (
        opts: {
          kmsDataDir: string;
          database?: string;
          listen: string;
          insecureHttp?: boolean;
          kmsEndpoint?: string;
          updateCooldown: string;
          taskLease: string;
        } & ClusterWatchFlags,
      ) => {
        // Everything checked before anything opens, so a bad flag changes nothing.
        const { host, port } = parseListen(opts.listen);
        if (opts.insecureHttp === true && !LOOPBACK.has(host))
          throw new AtrestError(
            "invalid-argument",
            "--insecure-http: plain HTTP is only allowed on a loopback address",
          );
        if (opts.kmsEndpoint !== undefined && !/^https:\/\/[^/\s]+\/?$/.test(opts.kmsEndpoint))
          throw new AtrestError("invalid-argument", "--kms-endpoint: must be https://host:port");
        if (opts.kmsEndpoint !== undefined && opts.insecureHttp === true)
          throw new AtrestError(
            "invalid-argument",
            "--kms-endpoint: the console needs HTTPS (its session cookie is Secure); drop --insecure-http",
          );
        const cooldownMs = durationMs(opts.updateCooldown, "--update-cooldown");
        const taskLeaseMs = durationMs(opts.taskLease, "--task-lease");
        if (taskLeaseMs < 1000) throw new AtrestError("invalid-argument", "--task-lease: at least 1s");
        const watch = clusterWatchFrom(opts);
        const logger = createLogger({ name: "control-plane" });
        const shared = await openSharedIdentity({
          dataDir: opts.kmsDataDir,
          ...(opts.database === undefined ? {} : { database: opts.database }),
        });
        if (opts.insecureHttp !== true && shared.tls === undefined) {
          await shared.close();
          throw new AtrestError(
            "failed-precondition",
            `${opts.kmsDataDir} has no TLS certificate (tls/tls.crt); serve with --insecure-http on loopback`,
          );
        }
        let running;
        try {
          running = await startControlPlane({
            identity: shared.identity,
            idb: shared.idb,
            accountId: shared.accountId,
            regionId: shared.region,
            eventSources: [shared.eventSource],
            engines: (cluster, o) => openClusterEngine(cluster, o),
            host,
            port,
            cooldownMs,
            taskLeaseMs,
            watch,
            logger,
            // The console's KMS pages call --kms-endpoint; its RAM, STS and ActionTrail pages this
            // server's own identity services (served at /), both signed as the signed-in user.
            ...(opts.kmsEndpoint === undefined || shared.tls === undefined
              ? {}
              : {
                  mounts: [
                    consoleMount({
                      kmsEndpoint: opts.kmsEndpoint.replace(/\/$/, ""),
                      identityEndpoint: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
                      regionId: shared.region,
                      caPem: shared.tls.caCertPem,
                    }),
                  ],
                }),
            ...(opts.insecureHttp === true || shared.tls === undefined
              ? {}
              : { tls: { keyPem: shared.tls.keyPem, certPem: shared.tls.certPem } }),
          });
        } catch (err) {
          await shared.close();
          throw err;
        }
        process.stdout.write(
          JSON.stringify({
            msg: "control plane listening",
            url: running.url,
            ...(opts.kmsEndpoint === undefined ? {} : { consoleUrl: consoleUrlOf(running.url) }),
            instanceId: running.service.instanceId,
          }) + "\n",
        );
        await serveUntilSignal(logger, async () => {
          await running.close();
          await shared.close();
        });
        logger.flush();
      },
    );

  const withClient = (c: Command): Command =>
    c
      .requiredOption("--profile <file>", "client profile (kms-profile.json): the access key signs the calls")
      .option("--endpoint <url>", "the control plane (default: the profile's controlPlaneEndpoint)")
      .option("-o, --output <format>", "json for JSON output");

  withClient(
    cp
      .command("register")
      .description("register an existing cluster from its cluster file (you become its administrator)")
      .requiredOption("--cluster <file>", "the cluster file (as for atrest encryption)"),
  ).action(async (flags: ClientFlags & { cluster: string }) => {
    const r = await clientFrom(flags).call("RegisterCluster", "POST", "/atrest/v1/clusters", {
      cluster_file: flags.cluster,
    });
    const c = r.body as { cluster_id: string; name: string; state: string; meta_data: string };
    process.stdout.write(
      flags.output === "json"
        ? JSON.stringify(c) + "\n"
        : `registered ${c.name} as ${c.cluster_id} (${c.state})\n`,
    );
  });

  withClient(
    cp
      .command("grant")
      .description(`grant a RAM user or role a cluster role (${CLUSTER_ROLES.join(", ")})`)
      .requiredOption("--cluster-id <id>", "the cluster")
      .requiredOption("--principal <name>", "the RAM user or role")
      .requiredOption("--role <role>", CLUSTER_ROLES.join(" | ")),
  ).action(async (flags: ClientFlags & { clusterId: string; principal: string; role: string }) => {
    if (!(CLUSTER_ROLES as readonly string[]).includes(flags.role))
      throw new AtrestError("invalid-argument", `--role: one of ${CLUSTER_ROLES.join(", ")}`);
    await clientFrom(flags).call(
      "GrantPermissions",
      "POST",
      `/atrest/v1/clusters/${encodeURIComponent(flags.clusterId)}/roles`,
      { principal: flags.principal, role_name: flags.role },
    );
    process.stdout.write(
      flags.output === "json"
        ? JSON.stringify({ clusterId: flags.clusterId, principal: flags.principal, role: flags.role }) + "\n"
        : `granted ${flags.principal} ${flags.role} on ${flags.clusterId}\n`,
    );
  });
}

export { DEFAULT_TASK_LEASE_MS, DEFAULT_UPDATE_COOLDOWN_MS };
