/** `/livez`, `/readyz`, `/healthz` with named checks, in kube-apiserver's text format. */

export interface HealthCheck {
  readonly name: string;
  /** Resolves when healthy; the rejection's message is not shown (kube withholds reasons). */
  check(): Promise<void>;
  /** Which endpoints include it (default all three). */
  readonly endpoints?: ReadonlyArray<"livez" | "readyz" | "healthz">;
}

export interface HealthResult {
  readonly status: number;
  readonly body: string;
}

export async function runHealth(
  endpoint: "livez" | "readyz" | "healthz",
  checks: readonly HealthCheck[],
  options: { only?: string; verbose: boolean; exclude: readonly string[] },
): Promise<HealthResult> {
  const selected = checks.filter(
    (c) =>
      (c.endpoints ?? ["livez", "readyz", "healthz"]).includes(endpoint) && !options.exclude.includes(c.name),
  );
  if (options.only !== undefined) {
    const c = selected.find((x) => x.name === options.only);
    if (c === undefined) return { status: 404, body: "404 page not found\n" };
    try {
      await c.check();
      return { status: 200, body: "ok" };
    } catch {
      return { status: 500, body: `internal server error: ${c.name} failed: reason withheld\n` };
    }
  }
  const results = await Promise.all(
    selected.map(async (c) => {
      try {
        await c.check();
        return { name: c.name, ok: true };
      } catch {
        return { name: c.name, ok: false };
      }
    }),
  );
  const failed = results.some((r) => !r.ok);
  if (!failed && !options.verbose) return { status: 200, body: "ok" };
  const lines = results.map((r) => (r.ok ? `[+]${r.name} ok` : `[-]${r.name} failed: reason withheld`));
  lines.push(failed ? `${endpoint} check failed` : `${endpoint} check passed`);
  return { status: failed ? 500 : 200, body: lines.join("\n") + "\n" };
}
