import type { RunningPlugin } from "./plugin.js";
import type { HealthSnapshot } from "./status-check.js";

const RETRY_GAP_MS = 250;

/**
 * Waits until the plugin's Encrypt+Decrypt check passes, at most `timeoutMs`. Starting the apiserver
 * before that would make its first KMS status poll fail, and it then refuses writes for up to 10 s.
 * Returns the last snapshot either way: the caller decides whether unhealthy is fatal.
 */
export async function waitForPluginHealthy(
  plugin: RunningPlugin,
  timeoutMs: number,
): Promise<HealthSnapshot> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const remaining = deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), Math.max(0, remaining));
    });
    const snap = await Promise.race([plugin.checkNow(), timeout]).finally(() => clearTimeout(timer));
    if (snap?.healthy === true) return snap;
    if (snap === undefined || Date.now() + RETRY_GAP_MS >= deadline) return plugin.status();
    await new Promise((r) => setTimeout(r, RETRY_GAP_MS));
  }
}
