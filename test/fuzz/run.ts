/**
 * `npm run fuzz [-- --runs N] [--seed S] [--target NAME]`: the long fuzzing run. Prints one JSON object:
 * per target the cases run, the time taken and any finding (a counterexample fast-check shrank).
 */
import { TARGETS } from "./targets.js";

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = Number(opt("runs") ?? "2000");
const seed = opt("seed") === undefined ? Date.now() % 2 ** 31 : Number(opt("seed"));
const only = opt("target");

const results: Array<{ target: string; cases: number; ms: number; findings: unknown[] }> = [];
for (const t of TARGETS) {
  if (only !== undefined && t.name !== only) continue;
  // The HTTP targets cost a request or three per case: a tenth of the cases.
  const cases =
    t.name === "apiserver-bodies" || t.name === "kms-rpc" ? Math.max(1, Math.floor(runs / 10)) : runs;
  const started = process.hrtime.bigint();
  const findings = await t.run(cases, seed);
  results.push({
    target: t.name,
    cases,
    ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6),
    findings,
  });
}
const findings = results.reduce((n, r) => n + r.findings.length, 0);
process.stdout.write(JSON.stringify({ seed, runs, findings, targets: results }, null, 2) + "\n");
process.exit(findings === 0 ? 0 : 1);
