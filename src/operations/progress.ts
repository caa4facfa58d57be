/**
 * What an operation reports while it runs: stage transitions, who it is waiting for, rewrite progress,
 * retries and the verify verdict. The engine emits events; the CLI renders them (a progress bar on a
 * TTY, JSON lines otherwise) and the control plane can forward them. Nothing secret is ever in one.
 */
import type { Progress, StageName, VerifyResult } from "./operation-record.js";

export type ProgressEvent =
  | {
      readonly event: "operation";
      readonly state: "started" | "resumed" | "succeeded" | "failed";
      readonly id: string;
      readonly type: string;
      readonly message?: string;
    }
  | {
      readonly event: "stage";
      readonly stage: StageName;
      readonly state: "started" | "succeeded" | "failed";
      readonly message?: string;
    }
  | { readonly event: "config"; readonly stage: StageName; readonly hash: string }
  | { readonly event: "waiting"; readonly stage: StageName; readonly behind: readonly string[] }
  | ({ readonly event: "progress"; readonly stage: "rewrite" } & Progress)
  | { readonly event: "retry"; readonly stage: StageName; readonly why: string; readonly waitMs: number }
  | ({ readonly event: "verify"; readonly stage: "verify" } & VerifyResult);

export type ProgressSink = (event: ProgressEvent) => void;

export const silentProgress: ProgressSink = () => undefined;

function bar(done: number, total: number, width: number): string {
  const frac = total > 0 ? Math.min(done / total, 1) : 1;
  const full = Math.round(frac * width);
  return `[${"#".repeat(full)}${".".repeat(width - full)}]`;
}

function eta(seconds: number | null): string {
  if (seconds === null) return "--";
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
}

/**
 * A TTY renderer: one line per stage event, and a live progress bar (count, rate, ETA) for the
 * rewrite, redrawn in place at most every `minIntervalMs`.
 */
export function ttyProgress(
  write: (text: string) => void,
  now: () => number = Date.now,
  minIntervalMs = 100,
): ProgressSink {
  let lastDraw = Number.NEGATIVE_INFINITY;
  let barShown = false;
  const endBar = (): void => {
    if (barShown) write("\n");
    barShown = false;
  };
  return (e) => {
    switch (e.event) {
      case "progress": {
        const t = now();
        const done = e.rewritten + e.unchanged + e.skippedDeleted;
        if (t - lastDraw < minIntervalMs && e.remaining > 0) return;
        lastDraw = t;
        barShown = true;
        write(
          `\r  rewrite ${bar(done, e.total, 30)} ${done}/${e.total} (${e.rewritten} rewritten, ${e.conflictsRetried} conflicts) ${e.ratePerSecond}/s ETA ${eta(e.etaSeconds)}   `,
        );
        return;
      }
      case "stage":
        endBar();
        write(
          `${e.state === "started" ? "▶" : e.state === "succeeded" ? "✓" : "✗"} ${e.stage}${e.message === undefined ? "" : `: ${e.message}`}\n`,
        );
        return;
      case "waiting":
        endBar();
        write(`  waiting: ${e.behind.join("; ")}\n`);
        return;
      case "config":
        write(`  configuration ${e.hash} delivered\n`);
        return;
      case "retry":
        endBar();
        write(`  retrying in ${e.waitMs} ms: ${e.why}\n`);
        return;
      case "verify":
        write(
          `  verified ${e.underTarget}/${e.total} under the target${e.passed ? "" : `: ${e.reason ?? "failed"}`}\n`,
        );
        return;
      case "operation":
        endBar();
        write(`${e.type} ${e.id}: ${e.state}${e.message === undefined ? "" : ` (${e.message})`}\n`);
        return;
    }
  };
}

/** JSON lines, one per event (rewrite progress at most every `minIntervalMs`, and always the last). */
export function jsonProgress(
  write: (line: string) => void,
  now: () => number = Date.now,
  minIntervalMs = 250,
): ProgressSink {
  let last = Number.NEGATIVE_INFINITY;
  return (e) => {
    if (e.event === "progress") {
      const t = now();
      if (t - last < minIntervalMs && e.remaining > 0) return;
      last = t;
    }
    write(JSON.stringify({ ts: new Date(now()).toISOString(), ...e }) + "\n");
  };
}
