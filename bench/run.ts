/**
 * `npm run bench [-- NAME ...]` runs benchmarks and prints one JSON document per benchmark on stdout.
 * Each benchmark is bench/<name>.ts exporting `run(): Promise<Record<string, unknown>>` and measures
 * its subject side by side with a baseline in the same run.
 */
import { readdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { join } from "node:path";

const dir = fileURLToPath(new URL(".", import.meta.url));
const available = readdirSync(dir)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.endsWith(".test.ts") && !f.startsWith("support"))
  .map((f) => f.replace(/\.ts$/, ""))
  .sort();
const requested = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const unknown = requested.filter((r) => !available.includes(r));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(", ")}; available: ${available.join(", ")}\n`);
  process.exit(2);
}
for (const name of requested.length > 0 ? requested : available) {
  const mod = (await import(pathToFileURL(join(dir, `${name}.ts`)).href)) as {
    run: () => Promise<Record<string, unknown>>;
  };
  const result = await mod.run();
  process.stdout.write(JSON.stringify({ benchmark: name, node: process.version, ...result }, null, 2) + "\n");
}
