import type { Logger } from "../common/logger.js";

/**
 * A terminal's Ctrl-C reaches the whole process group, and `npm run up` forwards it once more: signals
 * this close together are one request to stop. A later one forces the exit (a stop that hangs).
 */
const DUPLICATE_SIGNAL_WINDOW_MS = 2_000;

/**
 * Resolves with the first SIGINT or SIGTERM. Without `onForce` the handlers are removed then (a second
 * signal gets Node's default: exit); with it they stay, and a later, distinct signal calls `onForce`.
 */
export function untilStopSignal(options: { onForce?: () => void } = {}): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let firstAtMs: number | undefined;
    const handler = (signal: NodeJS.Signals): void => {
      if (firstAtMs === undefined) {
        firstAtMs = Date.now();
        if (options.onForce === undefined) {
          process.off("SIGINT", handler);
          process.off("SIGTERM", handler);
        }
        resolve(signal);
      } else if (Date.now() - firstAtMs > DUPLICATE_SIGNAL_WINDOW_MS) options.onForce?.();
    };
    process.on("SIGINT", handler);
    process.on("SIGTERM", handler);
  });
}

/** A server's life in a CLI command: runs until SIGINT/SIGTERM, then `close`; a failed close is logged. */
export async function serveUntilSignal(
  logger: Logger,
  close: (signal: NodeJS.Signals) => Promise<void>,
): Promise<void> {
  const signal = await untilStopSignal();
  try {
    await close(signal);
  } catch (err) {
    logger.error({ signal, err: err instanceof Error ? err.message : String(err) }, "shutdown failed");
  }
}
