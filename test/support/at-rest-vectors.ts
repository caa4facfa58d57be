/**
 * The shared test vectors (`../shared/vectors/kubernetes-at-rest.json`, beside the repository clone),
 * recorded by Kubernetes' own tests or derived from the documented layouts (DESIGN.md §4).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export type VectorEntry = Readonly<Record<string, string | number>>;

export interface AtRestVectors {
  readonly kubernetes: Readonly<Record<string, VectorEntry>>;
  readonly derived: Readonly<Record<string, VectorEntry>>;
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "src"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("repository root not found");
    dir = parent;
  }
}

export const AT_REST_VECTORS_PATH = join(repoRoot(), "..", "shared", "vectors", "kubernetes-at-rest.json");

let cached: AtRestVectors | undefined;

export function loadAtRestVectors(): AtRestVectors {
  cached ??= JSON.parse(readFileSync(AT_REST_VECTORS_PATH, "utf8")) as AtRestVectors;
  return cached;
}

/** A string field of an entry (throws when missing, so a renamed field fails the test loudly). */
export function field(entry: VectorEntry | undefined, name: string): string {
  const value = entry?.[name];
  if (typeof value !== "string") throw new Error(`vector field ${name} missing`);
  return value;
}

export function hexField(entry: VectorEntry | undefined, name: string): Buffer {
  return Buffer.from(field(entry, name), "hex");
}
