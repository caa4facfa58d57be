import type { Command } from "commander";
import { AtrestError } from "../common/errors.js";
import { parseGoDurationNs } from "../common/go-duration.js";
import type { ClusterWatchOptions } from "../control-plane/index.js";

/**
 * The control plane's watch of its clusters (`atrest control-plane serve` and `atrest up`): how often
 * each key's health is checked, how often each cluster is looked at for a rotated key, and how long
 * every apiserver must report the new key_id before the automatic re-encrypt starts.
 */
export interface ClusterWatchFlags {
  keyHealthInterval: string;
  autoReencryptInterval: string;
  autoReencryptSettle: string;
}

export function addClusterWatchOptions(cmd: Command): Command {
  return cmd
    .option("--key-health-interval <duration>", "how often each cluster's KMS key health is checked", "1m")
    .option(
      "--auto-reencrypt-interval <duration>",
      "how often each cluster is checked for a rotated key to re-encrypt under",
      "1m",
    )
    .option(
      "--auto-reencrypt-settle <duration>",
      "how long every apiserver must report the new key_id before re-encrypting (0s: at once)",
      "5m",
    );
}

function ms(value: string, flag: string, min: number): number {
  const ns = parseGoDurationNs(value);
  if (ns === undefined || ns < 0n)
    throw new AtrestError("invalid-argument", `${flag}: must be a duration like 5m, 30s or 0s`);
  const v = Number(ns / 1_000_000n);
  if (v < min) throw new AtrestError("invalid-argument", `${flag}: at least ${min} ms`);
  return v;
}

/** Checked before anything starts; a bad value names its flag. */
export function clusterWatchFrom(flags: ClusterWatchFlags): ClusterWatchOptions {
  return {
    healthIntervalMs: ms(flags.keyHealthInterval, "--key-health-interval", 1000),
    reencryptIntervalMs: ms(flags.autoReencryptInterval, "--auto-reencrypt-interval", 1000),
    settleMs: ms(flags.autoReencryptSettle, "--auto-reencrypt-settle", 0),
  };
}
