/**
 * The cluster file: what an encryption operation needs to know about one cluster — its name and region,
 * a kubeconfig for the Kubernetes API, every apiserver (URL, where its /metrics are, how its
 * EncryptionConfiguration is delivered), the store (for the read-only verify scan), the KMS profile and
 * the KMS plugin(s) the rendered configuration names. YAML, strict (unknown fields are errors), every
 * problem reported at once with its path; relative paths are relative to the file.
 *
 *   apiVersion: atrest.io/v1alpha1
 *   kind: Cluster
 *   name: prod-1
 *   region: cn-hangzhou
 *   kubeconfig: admin.kubeconfig
 *   apiservers:
 *     - url: https://10.0.0.1:6443
 *       encryptionConfig: { file: /etc/kubernetes/enc/encryption-config.yaml }
 *     - url: https://10.0.0.2:6443
 *       encryptionConfig: agent
 *   store: { etcd: { endpoints: [https://10.0.0.1:2379], caFile: ca.crt, certFile: c.crt, keyFile: c.key } }
 *   kms: { profile: kms-profile.json }
 *   plugins: [{ name: atrest, endpoint: "unix:///var/run/atrest/kms.sock" }]
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseDocument } from "yaml";
import YAML from "yaml";
import { z } from "zod";
import { AtrestError } from "../common/errors.js";
import { parseGoDurationNs } from "../common/go-duration.js";

export const CLUSTER_FILE_API_VERSION = "atrest.io/v1alpha1";
export const CLUSTER_FILE_KIND = "Cluster";

/** Defaults of the operation's tunables (the cluster file's `operation:` section overrides them). */
export const OPERATION_DEFAULTS = Object.freeze({
  /** How long a stage waits for every apiserver to load a configuration (kube polls its file once a minute). */
  convergeTimeoutMs: 5 * 60_000,
  /** A lease not renewed for this long is dead. */
  leaseDurationMs: 30_000,
  /**
   * Objects rewritten at once: enough PUTs in flight to cover the store's latency (an etcd round trip,
   * SQLite's group-commit fsync). bench operations, 10,000 Secrets: 32 gave 1,288/s on SQLite and
   * 1,112/s on etcd, 64 gave 2,268/s and 1,459/s; well inside kube's 200 mutating requests in flight.
   */
  concurrency: 64,
  /** Objects per list page (one checkpoint per page). */
  pageSize: 500,
  /** How long a rewrite retries a failing apiserver (restart, 5xx, refused) before the stage fails. */
  retryTimeoutMs: 60_000,
});

/** `name` becomes part of the KMS tag key `atrest:cluster:<name>` (≤ 128 chars) and of descriptions. */
const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const duration = z.string().refine((v) => {
  const ns = parseGoDurationNs(v);
  return ns !== undefined && ns > 0n;
}, "must be a positive duration like 30s, 5m or 500ms");

const httpsUrl = z
  .string()
  .refine((v) => /^https:\/\/[^/\s?#]+\/?$/.test(v), "must be https://host[:port] (no path)");

const delivery = z.union([
  z.literal("agent"),
  z.strictObject({ file: z.string().min(1, "must not be empty") }),
]);

const apiserverSchema = z.strictObject({
  url: httpsUrl,
  /** Where /metrics and /readyz are read; default the apiserver's own URL with the kubeconfig's credentials. */
  metrics: z.strictObject({ url: httpsUrl }).optional(),
  encryptionConfig: delivery,
});

const storeSchema = z
  .strictObject({
    sqlite: z.string().min(1).optional(),
    etcd: z
      .strictObject({
        endpoints: z.array(z.string().regex(/^https?:\/\/[^/\s]+\/?$/, "must be http(s)://host:port")).min(1),
        caFile: z.string().min(1).optional(),
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
      })
      .optional(),
    prefix: z
      .string()
      .regex(/^\/[^\s]*[^/\s]$|^\/$/, "must be an absolute key prefix like /registry")
      .optional(),
  })
  .refine((s) => (s.sqlite === undefined) !== (s.etcd === undefined), "give exactly one of sqlite or etcd");

const pluginSchema = z.strictObject({
  /** The KMS provider name in the rendered configuration: part of every stored value's prefix. */
  name: z
    .string()
    .min(1)
    .refine((v) => !v.includes(":"), "must not contain ':' (kube's KMS v2 name rule)"),
  endpoint: z.string().regex(/^unix:\/\/\/.+/, "must be unix:///absolute/path.sock"),
  timeout: duration.optional(),
});

const clusterSchema = z.strictObject({
  apiVersion: z.literal(CLUSTER_FILE_API_VERSION),
  kind: z.literal(CLUSTER_FILE_KIND),
  name: z.string().regex(NAME_PATTERN, "must be a DNS label: lowercase letters, digits and '-', 1-63 chars"),
  region: z.string().regex(/^[a-z0-9-]{2,64}$/, "must be a region id like cn-hangzhou"),
  kubeconfig: z.string().min(1),
  apiservers: z.array(apiserverSchema).min(1, "name at least one apiserver"),
  store: storeSchema,
  kms: z.strictObject({ profile: z.string().min(1) }),
  // Empty for a cluster that encrypts nothing yet (a managed cluster created without a key): enable
  // then reports that no plugin serves the key (KmsPluginNotFound).
  plugins: z.array(pluginSchema),
  resources: z
    .array(
      z
        .string()
        .regex(/^[a-z0-9-]+(\.[a-z0-9.-]+)?$/, "must be a resource name like secrets or widgets.example.com"),
    )
    .min(1)
    .optional(),
  operation: z
    .strictObject({
      convergeTimeout: duration.optional(),
      leaseDuration: duration.optional(),
      retryTimeout: duration.optional(),
      concurrency: z.number().int().min(1).max(256).optional(),
      pageSize: z.number().int().min(1).max(5000).optional(),
    })
    .optional(),
});

export type ConfigDelivery = { readonly kind: "file"; readonly path: string } | { readonly kind: "agent" };

export interface ClusterApiserver {
  readonly url: string;
  readonly metricsUrl: string;
  readonly delivery: ConfigDelivery;
}

export type ClusterStore =
  | { readonly kind: "sqlite"; readonly path: string; readonly prefix: string }
  | {
      readonly kind: "etcd";
      readonly endpoints: readonly string[];
      readonly caFile?: string;
      readonly certFile?: string;
      readonly keyFile?: string;
      readonly prefix: string;
    };

export interface ClusterPlugin {
  readonly name: string;
  readonly endpoint: string;
  /** The rendered provider's timeout, as written (default 3s). */
  readonly timeout: string;
}

export interface ClusterTunables {
  readonly convergeTimeoutMs: number;
  readonly leaseDurationMs: number;
  readonly retryTimeoutMs: number;
  readonly concurrency: number;
  readonly pageSize: number;
}

/** A validated cluster file, paths made absolute. */
export interface ClusterSpec {
  /** The file it was read from (absolute), or "<input>". */
  readonly source: string;
  readonly name: string;
  readonly region: string;
  readonly kubeconfig: string;
  readonly apiservers: readonly ClusterApiserver[];
  readonly store: ClusterStore;
  readonly kmsProfile: string;
  readonly plugins: readonly ClusterPlugin[];
  /** The resources the operation encrypts (default `secrets`). */
  readonly resources: readonly string[];
  readonly tunables: ClusterTunables;
}

function msOf(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  return Number((parseGoDurationNs(value) ?? 0n) / 1_000_000n);
}

function pathOf(segments: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const s of segments)
    out = typeof s === "number" ? `${out}[${s}]` : out === "" ? String(s) : `${out}.${String(s)}`;
  return out === "" ? "(file)" : out;
}

function invalid(source: string, problems: readonly string[]): AtrestError {
  return new AtrestError("invalid-argument", `cluster file ${source}: ${problems.join("; ")}`, {
    details: { file: source, problems: [...problems] },
  });
}

/** Parses and validates cluster file text; `source` names it in messages and anchors relative paths. */
export function parseClusterFile(text: string, source = "<input>"): ClusterSpec {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0)
    throw invalid(
      source,
      doc.errors.map((e) => `not valid YAML: ${e.message.split("\n")[0] ?? e.code}`),
    );
  const raw: unknown = doc.toJS();
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw invalid(source, ["(file): must be a YAML mapping"]);
  const parsed = clusterSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((i) =>
      i.code === "unrecognized_keys"
        ? i.keys.map((k) => `${pathOf([...i.path, k])}: unknown field`)
        : i.code === "invalid_union"
          ? [`${pathOf(i.path)}: must be "agent" or {file: PATH}`]
          : [`${pathOf(i.path)}: ${i.message}`],
    );
    throw invalid(source, problems);
  }
  const c = parsed.data;
  const base = source === "<input>" ? process.cwd() : dirname(source);
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));

  const problems: string[] = [];
  const urls = new Set<string>();
  c.apiservers.forEach((a, i) => {
    const url = a.url.replace(/\/$/, "");
    if (urls.has(url)) problems.push(`apiservers[${i}].url: ${url} is listed twice`);
    urls.add(url);
  });
  const names = new Set<string>();
  const endpoints = new Set<string>();
  c.plugins.forEach((p, i) => {
    if (names.has(p.name)) problems.push(`plugins[${i}].name: ${p.name} is used twice`);
    if (endpoints.has(p.endpoint)) problems.push(`plugins[${i}].endpoint: ${p.endpoint} is listed twice`);
    names.add(p.name);
    endpoints.add(p.endpoint);
  });
  const resources = c.resources ?? ["secrets"];
  resources.forEach((r, i) => {
    // The operation keeps its record in a ConfigMap: encrypting ConfigMaps would make the record
    // unreadable exactly when the KMS is down, which is when an operator needs it.
    if (r === "configmaps")
      problems.push(`resources[${i}]: configmaps cannot be managed (the operation record is a ConfigMap)`);
  });
  if (new Set(resources).size !== resources.length) problems.push("resources: a resource is listed twice");
  if (
    c.store.etcd !== undefined &&
    c.store.etcd.caFile === undefined &&
    (c.store.etcd.certFile !== undefined || c.store.etcd.keyFile !== undefined)
  )
    problems.push("store.etcd: certFile and keyFile need caFile");
  if (
    c.store.etcd !== undefined &&
    (c.store.etcd.certFile === undefined) !== (c.store.etcd.keyFile === undefined)
  )
    problems.push("store.etcd: certFile and keyFile go together");
  if (problems.length > 0) throw invalid(source, problems);

  const prefix = (c.store.prefix ?? "/registry").replace(/\/+$/, "") || "/";
  const store: ClusterStore =
    c.store.sqlite !== undefined
      ? { kind: "sqlite", path: abs(c.store.sqlite), prefix }
      : {
          kind: "etcd",
          endpoints: c.store.etcd!.endpoints.map((e) => e.replace(/\/$/, "")),
          ...(c.store.etcd!.caFile === undefined ? {} : { caFile: abs(c.store.etcd!.caFile) }),
          ...(c.store.etcd!.certFile === undefined ? {} : { certFile: abs(c.store.etcd!.certFile) }),
          ...(c.store.etcd!.keyFile === undefined ? {} : { keyFile: abs(c.store.etcd!.keyFile) }),
          prefix,
        };
  const op = c.operation ?? {};
  return Object.freeze({
    source,
    name: c.name,
    region: c.region,
    kubeconfig: abs(c.kubeconfig),
    apiservers: Object.freeze(
      c.apiservers.map((a) =>
        Object.freeze({
          url: a.url.replace(/\/$/, ""),
          metricsUrl: (a.metrics?.url ?? a.url).replace(/\/$/, ""),
          delivery:
            a.encryptionConfig === "agent"
              ? ({ kind: "agent" } as const)
              : ({ kind: "file", path: abs(a.encryptionConfig.file) } as const),
        }),
      ),
    ),
    store: Object.freeze(store),
    kmsProfile: abs(c.kms.profile),
    plugins: Object.freeze(
      c.plugins.map((p) => Object.freeze({ name: p.name, endpoint: p.endpoint, timeout: p.timeout ?? "3s" })),
    ),
    resources: Object.freeze([...resources]),
    tunables: Object.freeze({
      convergeTimeoutMs: msOf(op.convergeTimeout, OPERATION_DEFAULTS.convergeTimeoutMs),
      leaseDurationMs: msOf(op.leaseDuration, OPERATION_DEFAULTS.leaseDurationMs),
      retryTimeoutMs: msOf(op.retryTimeout, OPERATION_DEFAULTS.retryTimeoutMs),
      concurrency: op.concurrency ?? OPERATION_DEFAULTS.concurrency,
      pageSize: op.pageSize ?? OPERATION_DEFAULTS.pageSize,
    }),
  });
}

/** Reads and validates the cluster file at `path`. */
export function loadClusterFile(path: string): ClusterSpec {
  const abs = resolve(path);
  let text: string;
  try {
    text = readFileSync(abs, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new AtrestError("invalid-argument", `cluster file ${abs}: cannot read it (${code})`, {
      cause: err,
      details: { file: abs },
    });
  }
  return parseClusterFile(text, abs);
}

/** What `renderClusterFile` writes: the same fields as the file, paths as given. */
export interface ClusterFileInput {
  readonly name: string;
  readonly region: string;
  readonly kubeconfig: string;
  readonly apiservers: ReadonlyArray<{ readonly url: string; readonly configFile?: string }>;
  readonly store:
    | { readonly sqlite: string; readonly prefix?: string }
    | { readonly etcd: { readonly endpoints: readonly string[] }; readonly prefix?: string };
  readonly kmsProfile: string;
  readonly plugins: ReadonlyArray<{
    readonly name: string;
    readonly endpoint: string;
    readonly timeout?: string;
  }>;
}

/** The YAML of a cluster file (for `atrest up` and tests); parseClusterFile accepts what this writes. */
export function renderClusterFile(input: ClusterFileInput): string {
  return YAML.stringify({
    apiVersion: CLUSTER_FILE_API_VERSION,
    kind: CLUSTER_FILE_KIND,
    name: input.name,
    region: input.region,
    kubeconfig: input.kubeconfig,
    apiservers: input.apiservers.map((a) => ({
      url: a.url,
      encryptionConfig: a.configFile === undefined ? "agent" : { file: a.configFile },
    })),
    store:
      "sqlite" in input.store
        ? {
            sqlite: input.store.sqlite,
            ...(input.store.prefix === undefined ? {} : { prefix: input.store.prefix }),
          }
        : {
            etcd: { endpoints: [...input.store.etcd.endpoints] },
            ...(input.store.prefix === undefined ? {} : { prefix: input.store.prefix }),
          },
    kms: { profile: input.kmsProfile },
    plugins: input.plugins.map((p) => ({
      name: p.name,
      endpoint: p.endpoint,
      ...(p.timeout === undefined ? {} : { timeout: p.timeout }),
    })),
  });
}
