/**
 * Delivering a configuration to the apiservers. The cluster keeps the configuration every apiserver
 * should run, and the operation's staged ones, in one Secret (kube-system/atrest-encryption-config: a
 * base configuration may hold static aescbc/aesgcm/secretbox keys, so a ConfigMap would not do). An
 * apiserver whose configuration is a local file gets it written atomically by the operation; one on
 * another host gets it from `atrest encryption agent`, which copies the Secret into its file.
 */
import { readFileSync } from "node:fs";
import { AtrestError, isAtrestError } from "../common/errors.js";
import { writeFileAtomic } from "../common/atomic-file.js";
import type { ClusterSpec } from "./cluster-file.js";
import type { KubeClient } from "./kube-client.js";
import { CONFIG_SECRET, CURRENT_CONFIG_KEY, RECORD_NAMESPACE } from "./operation-record.js";
import { contentHashOf, loadRendered, type RenderedConfig, type StagedConfigs } from "./render.js";

const PATH = `/api/v1/namespaces/${RECORD_NAMESPACE}/secrets`;
export const HASH_ANNOTATION = "atrest.io/encryption-config-hash";
export const STAGE_KEYS = ["base", "read", "write", "final"] as const;

interface SecretObject {
  apiVersion: "v1";
  kind: "Secret";
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  type?: string;
  data?: Record<string, string>;
}

export interface StoredConfigs {
  /** What apiservers should run (what agents deliver). */
  readonly current?: RenderedConfig;
  /** The running operation's staged configurations, by stage. */
  readonly staged: Partial<Record<(typeof STAGE_KEYS)[number], RenderedConfig>>;
  readonly operationId?: string;
}

function decode(data: Record<string, string> | undefined, key: string): string | undefined {
  const v = data?.[key];
  return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
}

export class ConfigDelivery {
  constructor(
    private readonly kube: KubeClient,
    private readonly cluster: ClusterSpec,
    private readonly retryForMs: number,
  ) {}

  private async readSecret(): Promise<SecretObject | undefined> {
    try {
      return await this.kube.getJson<SecretObject>(`${PATH}/${CONFIG_SECRET}`, {
        retryForMs: this.retryForMs,
      });
    } catch (err) {
      if (isAtrestError(err, "not-found")) return undefined;
      throw err;
    }
  }

  async read(): Promise<StoredConfigs> {
    const secret = await this.readSecret();
    const text = decode(secret?.data, CURRENT_CONFIG_KEY);
    const staged: Partial<Record<(typeof STAGE_KEYS)[number], RenderedConfig>> = {};
    for (const k of STAGE_KEYS) {
      const t = decode(secret?.data, `${k}.yaml`);
      if (t !== undefined) staged[k] = loadRendered(t, `${RECORD_NAMESPACE}/${CONFIG_SECRET} ${k}.yaml`);
    }
    const op = secret?.metadata.annotations?.["atrest.io/operation"];
    return {
      ...(text === undefined ? {} : { current: loadRendered(text, `${RECORD_NAMESPACE}/${CONFIG_SECRET}`) }),
      staged,
      ...(op === undefined ? {} : { operationId: op }),
    };
  }

  /** Writes the Secret: `mutate` gets its data (base64 values) and returns the new data. CAS on resourceVersion. */
  private async write(
    mutate: (data: Record<string, string>) => Record<string, string>,
    annotations: Record<string, string>,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.readSecret();
      const data = mutate({ ...(current?.data ?? {}) });
      const body: SecretObject = {
        apiVersion: "v1",
        kind: "Secret",
        type: "Opaque",
        metadata: {
          name: CONFIG_SECRET,
          namespace: RECORD_NAMESPACE,
          labels: { "app.kubernetes.io/managed-by": "atrest" },
          annotations: { ...(current?.metadata.annotations ?? {}), ...annotations },
          ...(current?.metadata.resourceVersion === undefined
            ? {}
            : { resourceVersion: current.metadata.resourceVersion }),
        },
        data,
      };
      try {
        if (current === undefined) await this.kube.postJson(PATH, body, { retryForMs: this.retryForMs });
        else await this.kube.putJson(`${PATH}/${CONFIG_SECRET}`, body, { retryForMs: this.retryForMs });
        return;
      } catch (err) {
        if (!(isAtrestError(err, "conflict") || isAtrestError(err, "already-exists")) || attempt >= 20)
          throw err;
      }
    }
  }

  /** Keeps the operation's staged configurations in the cluster (resume on any machine reads them back). */
  async saveStaged(operationId: string, staged: Partial<StagedConfigs>): Promise<void> {
    await this.write(
      (data) => {
        for (const k of STAGE_KEYS) delete data[`${k}.yaml`];
        for (const k of STAGE_KEYS) {
          const r = staged[k];
          if (r !== undefined) data[`${k}.yaml`] = Buffer.from(r.text, "utf8").toString("base64");
        }
        return data;
      },
      { "atrest.io/operation": operationId },
    );
  }

  /** Records `config` as the one apiservers should run (agents pick it up) and writes the local files. */
  async deploy(config: RenderedConfig): Promise<void> {
    await this.write(
      (data) => ({ ...data, [CURRENT_CONFIG_KEY]: Buffer.from(config.text, "utf8").toString("base64") }),
      { [HASH_ANNOTATION]: config.hash },
    );
    for (const a of this.cluster.apiservers) {
      if (a.delivery.kind !== "file") continue;
      const existing = readIfExists(a.delivery.path);
      if (existing !== undefined && contentHashOf(Buffer.from(existing, "utf8")) === config.hash) continue;
      try {
        writeFileAtomic(a.delivery.path, config.text, 0o600);
      } catch (err) {
        throw new AtrestError(
          "unavailable",
          `cannot write the encryption configuration of ${a.url} to ${a.delivery.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
          { cause: err },
        );
      }
    }
  }

  /** The configurations the file-delivered apiservers' files hold now (path → rendered). */
  localFiles(): LocalFile[] {
    return this.cluster.apiservers.flatMap((a): LocalFile[] => {
      if (a.delivery.kind !== "file") return [];
      const text = readIfExists(a.delivery.path);
      if (text === undefined) return [{ url: a.url, path: a.delivery.path, error: "file does not exist" }];
      try {
        return [{ url: a.url, path: a.delivery.path, config: loadRendered(text, a.delivery.path) }];
      } catch (err) {
        return [
          { url: a.url, path: a.delivery.path, error: err instanceof Error ? err.message : String(err) },
        ];
      }
    });
  }
}

export interface LocalFile {
  readonly url: string;
  readonly path: string;
  readonly config?: RenderedConfig;
  readonly error?: string;
}

/** A file's text, undefined when it does not exist; any other failure is `unavailable`. */
export function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AtrestError(
      "unavailable",
      `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      {
        cause: err,
      },
    );
  }
}
