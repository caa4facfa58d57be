import type { Command } from "commander";
import { AtrestError } from "../common/errors.js";

/**
 * kube-apiserver's flags for the work the apiserver takes on (`atrest apiserver` and `atrest up`):
 * --watch-cache, --max-requests-inflight, --max-mutating-requests-inflight, with kube's defaults.
 */

export interface ServingLimitFlags {
  watchCache: string | boolean;
  maxRequestsInflight: string;
  maxMutatingRequestsInflight: string;
}

export interface ServingLimits {
  readonly watchCache: boolean;
  readonly maxRequestsInflight: number;
  readonly maxMutatingRequestsInflight: number;
}

export function addServingLimitOptions(cmd: Command): Command {
  return cmd
    .option(
      "--watch-cache [bool]",
      "serve watches and lists from a cache of every collection (false: read the store each time)",
      "true",
    )
    .option(
      "--max-requests-inflight <n>",
      "read-only requests served at once, more get 429 (watches, health checks, system:masters not counted; 0 = no limit)",
      "400",
    )
    .option(
      "--max-mutating-requests-inflight <n>",
      "create/update/patch/delete requests served at once, more get 429 (0 = no limit)",
      "200",
    );
}

/** Checked before anything starts; a bad value names its flag. */
export function servingLimitsFrom(flags: ServingLimitFlags): ServingLimits {
  return {
    watchCache: parseGoBool("--watch-cache", flags.watchCache),
    maxRequestsInflight: parseCount("--max-requests-inflight", flags.maxRequestsInflight),
    maxMutatingRequestsInflight: parseCount(
      "--max-mutating-requests-inflight",
      flags.maxMutatingRequestsInflight,
    ),
  };
}

/** A boolean flag's value as Go's strconv.ParseBool reads it (kube's `--watch-cache=false`). */
function parseGoBool(flag: string, value: string | boolean): boolean {
  if (typeof value === "boolean") return value;
  if (["1", "t", "T", "true", "TRUE", "True"].includes(value)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(value)) return false;
  throw new AtrestError("invalid-argument", `${flag} must be true or false, got "${value}"`);
}

/** A whole number ≥ 0 (kube's int flags). */
function parseCount(flag: string, value: string): number {
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n))
    throw new AtrestError("invalid-argument", `${flag} must be a whole number ≥ 0, got "${value}"`);
  return n;
}
