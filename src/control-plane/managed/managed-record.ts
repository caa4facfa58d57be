/**
 * What the control plane keeps about a managed cluster in `<cluster dir>/managed.json` (0600): enough
 * to start it again after a control-plane restart — its store, the KMS keys its plugins serve and the
 * port its apiserver had (reused so handed-out kubeconfigs keep working). Validated on read: a record
 * edited by hand into something else is refused with the field that broke, never half-used.
 */
import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { writeFileAtomic } from "../../common/atomic-file.js";
import { AtrestError } from "../../common/errors.js";
import { CLUSTER_ID_PATTERN } from "./cluster-paths.js";

const pluginSchema = z.strictObject({
  /** The KMS v2 provider name: part of every stored value's prefix, so never reused for another key. */
  name: z.string().regex(/^[a-z0-9-]{1,63}$/),
  keyId: z.string().min(1).max(128),
  /** The n in `p<n>.sock`. */
  socket: z.number().int().min(1).max(999),
});

const recordSchema = z.strictObject({
  version: z.literal(1),
  clusterId: z.string().regex(CLUSTER_ID_PATTERN),
  name: z.string().min(1).max(128),
  region: z.string().min(1),
  createdAt: z.string().min(1),
  store: z.union([
    z.strictObject({ sqlite: z.literal(true), prefix: z.string().startsWith("/") }),
    z.strictObject({
      etcd: z.strictObject({ endpoints: z.array(z.string().min(1)).min(1) }),
      prefix: z.string().startsWith("/"),
    }),
  ]),
  /** In order of addition; the first is the key the cluster was created with. */
  plugins: z.array(pluginSchema),
  securePort: z.number().int().min(0).max(65535).optional(),
});

export type ManagedRecord = z.output<typeof recordSchema>;
export type ManagedPlugin = ManagedRecord["plugins"][number];

export function readManagedRecord(path: string): ManagedRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new AtrestError("data-corrupt", `${path} is not readable JSON (a managed cluster's record)`, {
      cause,
    });
  }
  const parsed = recordSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(record)"}: ${i.message}`);
    throw new AtrestError("data-corrupt", `${path}: ${problems.join("; ")}`, { details: { problems } });
  }
  return parsed.data;
}

export function writeManagedRecord(path: string, record: ManagedRecord): void {
  writeFileAtomic(path, JSON.stringify(recordSchema.parse(record), null, 2) + "\n", 0o600);
}

export function managedRecordExists(path: string): boolean {
  return existsSync(path);
}

/** The provider name of the n-th key: `atrest` for the first (as `atrest up` names its one), then `atrest-<n>`. */
export function pluginName(n: number): string {
  return n === 1 ? "atrest" : `atrest-${n}`;
}
