import { existsSync } from "node:fs";
import YAML from "yaml";
import { writeFileAtomic } from "../../common/atomic-file.js";
import { parseEncryptionConfiguration } from "../../encryption-config/load.js";

/**
 * A managed cluster's first EncryptionConfiguration: with a key, Secrets through its plugin (KMS v2)
 * and identity after it, so nothing needs reading in clear but a Secret written before encryption
 * (none, for a new cluster) still would; without a key, identity. Checked as the apiserver will read it.
 */
export function renderManagedEncryptionConfig(
  plugin: { readonly name: string; readonly socket: string } | undefined,
): string {
  const providers: unknown[] =
    plugin === undefined
      ? [{ identity: {} }]
      : [
          {
            kms: { apiVersion: "v2", name: plugin.name, endpoint: `unix://${plugin.socket}`, timeout: "3s" },
          },
          { identity: {} },
        ];
  const text = YAML.stringify({
    apiVersion: "apiserver.config.k8s.io/v1",
    kind: "EncryptionConfiguration",
    resources: [{ resources: ["secrets"], providers }],
  });
  parseEncryptionConfiguration(text, { reload: true, source: "managed cluster configuration" });
  return text;
}

/**
 * Written once, at creation: afterwards the file belongs to the cluster's operations (enable, disable,
 * rotate rewrite it and the apiserver reloads it), so a restart never puts the first one back.
 */
export function ensureManagedEncryptionConfig(path: string, text: string): void {
  if (!existsSync(path)) writeFileAtomic(path, text, 0o600);
}
