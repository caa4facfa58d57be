import { existsSync } from "node:fs";
import YAML from "yaml";
import { writeFileAtomic } from "../common/atomic-file.js";

/** The KMS v2 provider name: part of every stored value's prefix (`k8s:enc:kms:v2:atrest:`), never change it. */
export const UP_KMS_PROVIDER_NAME = "atrest";

/** Secrets through the plugin (KMS v2); identity after it so Secrets written before encryption still read. */
export function renderUpEncryptionConfig(pluginSocket: string): string {
  return YAML.stringify({
    apiVersion: "apiserver.config.k8s.io/v1",
    kind: "EncryptionConfiguration",
    resources: [
      {
        resources: ["secrets"],
        providers: [
          {
            kms: {
              apiVersion: "v2",
              name: UP_KMS_PROVIDER_NAME,
              endpoint: `unix://${pluginSocket}`,
              timeout: "3s",
            },
          },
          { identity: {} },
        ],
      },
    ],
  });
}

/**
 * Writes the default configuration unless the file exists: an operator may have edited it (added
 * resources, a second provider for a migration), and the apiserver reloads it; never clobber that.
 */
export function ensureUpEncryptionConfig(path: string, pluginSocket: string): { written: boolean } {
  if (existsSync(path)) return { written: false };
  writeFileAtomic(path, renderUpEncryptionConfig(pluginSocket), 0o600);
  return { written: true };
}
