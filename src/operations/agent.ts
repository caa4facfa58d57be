/**
 * `atrest encryption agent`: runs on each control-plane node (a static pod, deploy/), reads the
 * configuration the operation stores in the cluster (Secret kube-system/atrest-encryption-config) and
 * writes it atomically to the node's EncryptionConfiguration file, which the node's apiserver reloads.
 * It never writes a configuration that does not validate; it never deletes the file. When the cluster
 * holds no configuration yet, it publishes the node's own file there once (create-only), so the first
 * operation has a base to start from.
 */
import { isAtrestError } from "../common/errors.js";
import { writeFileAtomic } from "../common/atomic-file.js";
import type { Clock } from "../common/clock.js";
import type { Logger } from "../common/logger.js";
import { HASH_ANNOTATION, readIfExists } from "./config-delivery.js";
import type { KubeClient } from "./kube-client.js";
import { CONFIG_SECRET, CURRENT_CONFIG_KEY, RECORD_NAMESPACE } from "./operation-record.js";
import { contentHashOf, loadRendered, providersFor } from "./render.js";

export type SyncOutcome = "unchanged" | "written" | "published" | "absent" | "invalid";

export interface AgentOptions {
  readonly kube: KubeClient;
  /** The node's EncryptionConfiguration file (the apiserver's --encryption-provider-config). */
  readonly file: string;
  readonly intervalMs: number;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** Publish the node's file when the cluster has none (default true). */
  readonly publishIfMissing?: boolean;
}

const SECRETS = `/api/v1/namespaces/${RECORD_NAMESPACE}/secrets`;

export class EncryptionConfigAgent {
  private timer: ReturnType<Clock["setTimeout"]> | undefined;
  private stopped = true;
  lastOutcome: SyncOutcome | undefined;
  lastError: string | undefined;

  constructor(private readonly options: AgentOptions) {}

  /** One pass: the cluster's configuration → the file. */
  async syncOnce(): Promise<SyncOutcome> {
    const { kube, file, logger } = this.options;
    let secret: { data?: Record<string, string> } | undefined;
    try {
      secret = await kube.getJson(`${SECRETS}/${CONFIG_SECRET}`);
    } catch (err) {
      if (!isAtrestError(err, "not-found")) throw err;
    }
    const encoded = secret?.data?.[CURRENT_CONFIG_KEY];
    if (encoded === undefined) {
      const local = readIfExists(file);
      if (local === undefined || this.options.publishIfMissing === false) return "absent";
      const config = loadRendered(local, file).config; // only a valid file is published
      // …and never one whose static keys would then sit in a Secret that is itself stored in plaintext.
      const staticKeys = config.resources.some((r) => r.providers.some((p) => "keys" in p));
      if (staticKeys && providersFor(config, "secrets")[0]?.type === "identity") {
        logger?.error(
          { file },
          "agent: not publishing a configuration with static keys while Secrets are not encrypted",
        );
        return "invalid";
      }
      try {
        await kube.postJson(SECRETS, {
          apiVersion: "v1",
          kind: "Secret",
          type: "Opaque",
          metadata: {
            name: CONFIG_SECRET,
            namespace: RECORD_NAMESPACE,
            labels: { "app.kubernetes.io/managed-by": "atrest" },
            annotations: { [HASH_ANNOTATION]: contentHashOf(Buffer.from(local, "utf8")) },
          },
          data: { [CURRENT_CONFIG_KEY]: Buffer.from(local, "utf8").toString("base64") },
        });
        logger?.info({ file }, "agent: published this node's configuration to the cluster");
        return "published";
      } catch (err) {
        if (isAtrestError(err, "already-exists")) return "unchanged"; // another node was first
        throw err;
      }
    }
    const text = Buffer.from(encoded, "base64").toString("utf8");
    let hash: string;
    try {
      hash = loadRendered(text, `${RECORD_NAMESPACE}/${CONFIG_SECRET}`).hash;
    } catch (err) {
      logger?.error(
        { err: err instanceof Error ? err.message : String(err) },
        "agent: the cluster's configuration is invalid; the file is left as it is",
      );
      return "invalid";
    }
    const local = readIfExists(file);
    if (local !== undefined && contentHashOf(Buffer.from(local, "utf8")) === hash) return "unchanged";
    writeFileAtomic(file, text, 0o600);
    logger?.info({ file, hash }, "agent: configuration written");
    return "written";
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const tick = (): void => {
      void this.syncOnce()
        .then(
          (o) => {
            this.lastOutcome = o;
            this.lastError = undefined;
          },
          (err: unknown) => {
            this.lastError = err instanceof Error ? err.message : String(err);
            this.options.logger?.warn({ err: this.lastError }, "agent: sync failed; retrying");
          },
        )
        .finally(() => {
          if (!this.stopped) this.timer = this.options.clock.setTimeout(tick, this.options.intervalMs);
        });
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
