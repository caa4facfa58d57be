/**
 * `atrest export`: every object under the prefix, read at one revision, decrypted (value-reader.ts),
 * decoded from JSON or kube's protobuf (the apiserver's decoder), stripped of server fields and
 * emitted as YAML documents that `kubectl apply -f` accepts — Namespaces first, so the objects in
 * them apply to a fresh cluster. A value that does not decrypt stops the export (its bytes would be
 * lost silently otherwise); bytes that are not a Kubernetes object this decoder knows (kube's
 * internal keys, protobuf kinds it has no schema for) are skipped and counted, unless the resource
 * was asked for by name, in which case they fail it too.
 */
import YAML from "yaml";
import { decodeStoredBytes } from "../kube-object/stored-bytes.js";
import { isPlainObject, type KubeObject } from "../kube-object/types.js";
import { AtrestError, wrapError } from "../common/errors.js";
import { mapLimited } from "../common/map-limited.js";
import {
  DEFAULT_ETCD_PREFIX,
  listPrefixesFor,
  normalizePrefix,
  resourceOfKey,
} from "../scan/storage-path.js";
import type { Store } from "../storage/store.js";
import { listAtRevision } from "./object-source.js";
import { stripServerFields } from "./strip-server-fields.js";
import type { ReadValue, ValueReader } from "./value-reader.js";

export interface ExportOptions {
  readonly store: Store;
  readonly reader: ValueReader;
  /** kube-apiserver's --etcd-prefix (default /registry). */
  readonly prefix?: string;
  /** Only these resources (`secrets`, `configmaps`, `deployments.apps`); default every one. */
  readonly resources?: readonly string[];
  /** Only objects in this namespace (and the Namespace itself). */
  readonly namespace?: string;
  /** Read as of this revision (default: the store's current one). */
  readonly revision?: number;
  readonly pageSize?: number;
  readonly concurrency?: number;
}

export interface ExportReport {
  readonly revision: number;
  readonly objects: number;
  readonly byResource: Record<string, number>;
  /** How the exported values were stored: `identity`, `kms v2 <provider> <key_id>`, `aescbc <key>`, … */
  readonly byEncryption: Record<string, number>;
  readonly skipped: number;
  /** A few of the skipped keys and why (never a value). */
  readonly skippedExamples: ReadonlyArray<{ key: string; reason: string }>;
}

const MAX_SKIPPED_EXAMPLES = 20;
/**
 * kubectl reads YAML with go-yaml's YAML 1.1 rules, where `on`, `yes`, `no` are booleans and
 * `2001-12-14` a timestamp: written as YAML 1.2 plain scalars, a label `on` or a data key `yes` would
 * come back as `true` (kubectl apply then refuses the object). YAML 1.1 output quotes exactly those.
 * No line folding: base64 values stay on one line.
 */
const YAML_OPTIONS = { version: "1.1", lineWidth: 0 } as const;

function encryptionLabel(origin: ReadValue["origin"]): string {
  switch (origin.provider) {
    case "kms":
      return `kms ${origin.kmsApiVersion ?? "?"} ${origin.providerName ?? "?"}${origin.keyId === undefined ? "" : ` ${origin.keyId}`}`;
    case "identity":
      return "identity";
    default:
      return `${origin.provider} ${origin.keyName ?? "?"}`;
  }
}

/** One object per call to `emit`, as a YAML document (`---` first). */
export async function exportObjects(
  options: ExportOptions,
  emit: (document: string) => Promise<void> | void,
): Promise<ExportReport> {
  const prefix = normalizePrefix(options.prefix ?? DEFAULT_ETCD_PREFIX);
  const wanted =
    options.resources === undefined || options.resources.length === 0
      ? undefined
      : new Set(options.resources);
  const revision = options.revision ?? (await options.store.currentRevision());
  const byResource: Record<string, number> = {};
  const byEncryption: Record<string, number> = {};
  const skippedExamples: Array<{ key: string; reason: string }> = [];
  let skipped = 0;
  let objects = 0;

  const skip = (key: string, reason: string): undefined => {
    skipped += 1;
    if (skippedExamples.length < MAX_SKIPPED_EXAMPLES) skippedExamples.push({ key, reason });
    return undefined;
  };

  const exportOne = async (key: string, value: Buffer, resource: string): Promise<string | undefined> => {
    let read: ReadValue;
    try {
      read = await options.reader.read(key, value, resource);
    } catch (err) {
      throw wrapError(err, `cannot decrypt ${key}`, "data-corrupt");
    }
    let object: KubeObject;
    try {
      object = decodeStoredBytes(read.plaintext, key);
    } catch (err) {
      read.plaintext.fill(0);
      if (wanted !== undefined) throw err;
      return skip(key, err instanceof Error ? err.message : String(err));
    }
    read.plaintext.fill(0);
    if (typeof object.apiVersion !== "string" || typeof object.kind !== "string") {
      if (wanted !== undefined)
        throw new AtrestError("data-corrupt", `the object at ${key} has no apiVersion and kind`);
      return skip(key, "no apiVersion and kind");
    }
    const meta = isPlainObject(object.metadata) ? object.metadata : {};
    if (options.namespace !== undefined) {
      const inNamespace =
        meta.namespace === options.namespace ||
        (object.kind === "Namespace" && meta.name === options.namespace);
      if (!inNamespace) return undefined;
    }
    const label = encryptionLabel(read.origin);
    byEncryption[label] = (byEncryption[label] ?? 0) + 1;
    byResource[resource] = (byResource[resource] ?? 0) + 1;
    objects += 1;
    return `---\n${YAML.stringify(stripServerFields(object), YAML_OPTIONS)}`;
  };

  // Namespaces first (they must exist before what is in them is applied), then everything else.
  const namespacesWanted = wanted === undefined || wanted.has("namespaces");
  const rest = wanted === undefined ? undefined : [...wanted].filter((r) => r !== "namespaces");
  const passes: Array<{ listPrefix: string; keep: (resource: string) => boolean }> = [];
  if (namespacesWanted) passes.push({ listPrefix: `${prefix}/namespaces/`, keep: (r) => r === "namespaces" });
  if (rest === undefined || rest.length > 0)
    for (const listPrefix of listPrefixesFor(prefix, rest))
      passes.push({
        listPrefix,
        keep: (r) => r !== "namespaces" && (rest === undefined || rest.includes(r)),
      });

  const pageSize = options.pageSize ?? 500;
  for (const pass of passes) {
    let page: Array<{ key: string; value: Buffer; resource: string }> = [];
    const flush = async () => {
      const docs = await mapLimited(page, options.concurrency ?? 8, (x) =>
        exportOne(x.key, x.value, x.resource),
      );
      page = [];
      for (const d of docs) if (d !== undefined) await emit(d);
    };
    for await (const kv of listAtRevision(options.store, pass.listPrefix, revision, pageSize)) {
      const resource = resourceOfKey(prefix, kv.key);
      if (!pass.keep(resource)) continue;
      page.push({ key: kv.key, value: kv.value, resource });
      if (page.length >= pageSize) await flush();
    }
    await flush();
  }
  return { revision, objects, byResource, byEncryption, skipped, skippedExamples };
}
