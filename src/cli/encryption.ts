import { Option, type Command } from "commander";
import { AtrestError } from "../common/errors.js";
import { systemClock } from "../common/clock.js";
import { createLogger } from "../common/logger.js";
import { parseGoDurationNs } from "../common/go-duration.js";
import {
  EncryptionConfigAgent,
  KubeClient,
  jsonProgress,
  loadClusterFile,
  loadKubeconfig,
  silentProgress,
  ttyProgress,
  type ClusterStatus,
  type OperationRecord,
  type OperationRequest,
  type Plan,
  type ProgressSink,
} from "../operations/index.js";
import { openClusterEngine, type ClusterEngine } from "./cluster-engine.js";
import { EXIT } from "./exit-codes.js";
import { untilStopSignal } from "./until-signal.js";

interface CommonFlags {
  cluster: string;
  output: "text" | "json";
  dryRun?: boolean;
  force?: boolean;
  progress: "auto" | "tty" | "json" | "none";
}

const EXIT_HELP = `
Exit status:
  0   the cluster is Running with the operation's target verified (status: Running)
  2   invalid arguments or cluster file
  3   an apiserver, the store or the KMS is unavailable, or did not converge in time
  4   stored data or the operation record is damaged
  5   not allowed (authentication / authorization)
  6   a precondition failed: key disabled / pending deletion / wrong region or spec, canary failed,
      apiservers on different configurations, verify failed (nothing was pruned)
  8   the KMS key does not exist
  9   another operation is running or unfinished (resume it, or --force)
  14  status: an operation is in progress (Updating)   15  status: the last operation failed (Failed)
  With --dry-run: 0 when nothing blocks the operation, else the first blocker's status.
An operation that stops prints its stage and reason; \`atrest encryption resume\` continues it.`;

function progressSink(mode: CommonFlags["progress"]): ProgressSink {
  const write = (s: string): void => void process.stderr.write(s);
  if (mode === "none") return silentProgress;
  if (mode === "json" || (mode === "auto" && !process.stderr.isTTY)) return jsonProgress(write);
  return ttyProgress(write);
}

/** The engine for a cluster file; `close()` frees its connections. */
function openEngine(flags: CommonFlags): ClusterEngine {
  return openClusterEngine(loadClusterFile(flags.cluster), { progress: progressSink(flags.progress) });
}

function printRecord(flags: CommonFlags, r: OperationRecord): void {
  if (flags.output === "json") {
    process.stdout.write(JSON.stringify({ operation: r }, null, 2) + "\n");
    return;
  }
  const p = r.progress;
  process.stdout.write(
    [
      `${r.type} ${r.id}: ${r.state}`,
      `  target     ${r.target.provider}${r.target.keyId === undefined ? "" : ` (KMS key ${r.target.keyId})`}`,
      `  rewritten  ${p.rewritten} of ${p.total} (${p.unchanged} already current, ${p.conflictsRetried} conflicts retried, ${p.skippedDeleted} deleted meanwhile) at ${p.ratePerSecond}/s`,
      ...(r.verify === undefined
        ? []
        : [
            `  verified   ${r.verify.underTarget}/${r.verify.total} under the target at revision ${r.verify.revision}`,
          ]),
      `  config     ${r.configs.final ?? r.configs.base}`,
      "",
    ].join("\n"),
  );
}

function printPlan(flags: CommonFlags, plan: Plan): void {
  if (flags.output === "json") {
    process.stdout.write(JSON.stringify(plan, null, 2) + "\n");
  } else {
    const lines = [
      `plan: ${plan.type} on ${plan.cluster}${plan.target === null ? "" : ` → ${plan.target.provider}${plan.target.keyId === undefined ? "" : ` (KMS key ${plan.target.keyId})`}`}`,
      ...plan.stages.map(
        (s, i) => `  ${i + 1}. ${s.name}: ${s.does}${s.configHash === undefined ? "" : ` [${s.configHash}]`}`,
      ),
      ...Object.entries(plan.resources).map(([r, c]) => `  ${r}: ${c.toRewrite} of ${c.total} to rewrite`),
      `  estimate: rewrite ~${plan.estimate.rewriteSeconds}s at ${plan.estimate.ratePerSecond}/s, ${plan.estimate.kmsCalls} KMS calls, ${plan.estimate.note}`,
      ...plan.apiservers.map(
        (a) =>
          `  apiserver ${a.url}: ${a.loadedConfigHash ?? "no configuration hash"}${a.healthy ? "" : " (not ready)"}`,
      ),
      ...(plan.blockers.length === 0
        ? ["  blockers: none"]
        : plan.blockers.map((b) => `  BLOCKER ${b.reason}: ${b.message}`)),
      "",
    ];
    process.stdout.write(lines.join("\n"));
  }
  const first = plan.blockers[0];
  if (first !== undefined)
    throw new AtrestError(first.code, `dry run: ${first.message}`, { details: { reason: first.reason } });
}

function printStatus(flags: CommonFlags, s: ClusterStatus): void {
  if (flags.output === "json") {
    process.stdout.write(JSON.stringify(s, null, 2) + "\n");
  } else {
    const op = s.operation;
    const lines = [
      `cluster ${s.cluster}: ${s.phase}${s.reason === undefined ? "" : ` (${s.reason})`}`,
      ...s.conditions.map((c) => `  ${c.type}=${c.status} ${c.reason}: ${c.message}`),
      ...(op === null
        ? ["  operation: none"]
        : [
            `  operation ${op.type} ${op.id}: ${op.state} at stage ${op.stage}, ${op.progress.rewritten + op.progress.unchanged}/${op.progress.total} processed${op.failure === undefined ? "" : `; failed: ${op.failure.message}`}`,
          ]),
      ...Object.entries(s.resources).map(
        ([r, v]) =>
          `  ${r}: writer ${v.writer}${v.keyIdHash === null ? "" : ` key_id ${v.keyIdHash}`}, ${v.underWriter}/${v.total} under it; ${Object.entries(
            v.byProvider,
          )
            .map(([p, n]) => `${p}=${n}`)
            .join(" ")}`,
      ),
      ...(s.resourcesError === undefined ? [] : [`  resources: ${s.resourcesError}`]),
      ...s.apiservers.map(
        (a) =>
          `  apiserver ${a.url}: ${a.loadedConfigHash ?? "?"} ${a.converged ? "converged" : "NOT converged"}, ${a.healthy ? "healthy" : "NOT healthy"}${a.error === undefined ? "" : ` (${a.error})`}`,
      ),
      s.key === null
        ? `  key: ${s.keyError ?? "none"}`
        : `  key ${s.key.id}: ${s.key.state}, deletion protection ${s.key.deletionProtection}, clusters ${JSON.stringify(s.key.clusters)}`,
      "",
    ];
    process.stdout.write(lines.join("\n"));
  }
  process.exitCode =
    s.phase === "Running" ? EXIT.ok : s.phase === "Updating" ? EXIT.clusterUpdating : EXIT.clusterFailed;
}

async function run(flags: CommonFlags, request: OperationRequest): Promise<void> {
  const { ops, close } = openEngine(flags);
  try {
    if (flags.dryRun === true) printPlan(flags, await ops.plan(request));
    else printRecord(flags, await ops.start(request, { force: flags.force === true }));
  } finally {
    close();
  }
}

function durationMs(name: string) {
  return (v: string): number => {
    const ns = parseGoDurationNs(v);
    if (ns === undefined || ns <= 0n)
      throw new AtrestError("invalid-argument", `${name} must be a duration like 2s, got "${v}"`);
    return Number(ns / 1_000_000n);
  };
}

function common(cmd: Command): Command {
  return cmd
    .requiredOption("--cluster <file>", "the cluster file (atrest up writes .atrest/cluster.yaml)")
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text"))
    .addOption(
      new Option("--progress <mode>", "progress output on stderr: a bar on a TTY, JSON lines otherwise")
        .choices(["auto", "tty", "json", "none"])
        .default("auto"),
    )
    .addHelpText("after", EXIT_HELP);
}

function operation(cmd: Command): Command {
  return common(cmd)
    .option("--dry-run", "print the plan (stages, objects to rewrite, estimate, blockers) and change nothing")
    .option(
      "--force",
      "take over the lease of an operation whose process is gone, or replace an unfinished one",
    );
}

/** `atrest encryption …`: staged, resumable encryption operations on a cluster. */
export function registerEncryption(program: Command): void {
  const enc = program
    .command("encryption")
    .description(
      "enable, disable, rotate and migrate a cluster's Secret encryption as one safe, resumable operation",
    );

  common(
    enc.command("status").description("phase, operation, resources per key/provider, apiservers, key"),
  ).action(async (flags: CommonFlags) => {
    const { ops, close } = openEngine({ ...flags, progress: "none" });
    try {
      printStatus(flags, await ops.status());
    } finally {
      close();
    }
  });

  operation(enc.command("enable").description("encrypt with a KMS key (KMS v2 through the cluster's plugin)"))
    .requiredOption("--key-id <id>", "the KMS key id or alias the cluster's plugin serves")
    .action((flags: CommonFlags & { keyId: string }) => run(flags, { type: "enable", keyId: flags.keyId }));

  operation(
    enc.command("disable").description("decrypt everything (KMS stays readable until verified)"),
  ).action((flags: CommonFlags) => run(flags, { type: "disable" }));

  operation(
    enc
      .command("rotate")
      .description("make a new key version, wait until every apiserver uses it, rewrite, verify"),
  ).action((flags: CommonFlags) => run(flags, { type: "rotate" }));

  operation(enc.command("migrate").description("move KMS v1 data to KMS v2"))
    .addOption(
      new Option("--to <version>", "the KMS API version to move to").choices(["v2"]).makeOptionMandatory(),
    )
    .action((flags: CommonFlags) => run(flags, { type: "migrate", to: "v2" }));

  operation(
    enc.command("reencrypt").description("rewrite every stale object under the current writer, verify"),
  ).action((flags: CommonFlags) => run(flags, { type: "reencrypt" }));

  common(enc.command("resume").description("continue the unfinished operation from the stage it stopped in"))
    .option("--force", "take over the lease even though it has not expired (its process is gone)")
    .action(async (flags: CommonFlags) => {
      const { ops, close } = openEngine(flags);
      try {
        printRecord(flags, await ops.resume({ force: flags.force === true }));
      } finally {
        close();
      }
    });

  enc
    .command("agent")
    .description(
      "keep this node's EncryptionConfiguration file equal to the one the cluster's operation delivers",
    )
    .requiredOption("--kubeconfig <file>", "credentials to read kube-system/atrest-encryption-config")
    .requiredOption("--file <path>", "the node's --encryption-provider-config file")
    .option("--interval <duration>", "how often to look", durationMs("--interval"), 2_000)
    .option("--once", "one pass, then exit (0 when the file is current)")
    .action(async (flags: { kubeconfig: string; file: string; interval: number; once?: boolean }) => {
      const kube = new KubeClient(loadKubeconfig(flags.kubeconfig));
      const logger = createLogger({ name: "atrest-encryption-agent" });
      const agent = new EncryptionConfigAgent({
        kube,
        file: flags.file,
        intervalMs: flags.interval,
        clock: systemClock,
        logger,
      });
      try {
        if (flags.once === true) {
          const outcome = await agent.syncOnce();
          process.stdout.write(`${outcome}\n`);
          if (outcome === "invalid") process.exitCode = EXIT.dataCorrupt;
          return;
        }
        agent.start();
        await untilStopSignal();
        agent.stop();
      } finally {
        kube.close();
        logger.flush();
      }
    });
}
