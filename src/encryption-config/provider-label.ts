import type { ProviderConfig } from "./types.js";

/**
 * A provider element as reports name it: `identity`, `aesgcm:<first key>`, `kms:v2:<name>`. The scan
 * labels writers with it and the operations tell providers apart by it: one definition for both.
 */
export function providerLabel(p: ProviderConfig): string {
  switch (p.type) {
    case "identity":
      return "identity";
    case "aescbc":
    case "aesgcm":
    case "secretbox":
      return `${p.type}:${p.keys[0]?.name ?? ""}`;
    case "kms":
      return `kms:${p.apiVersion}:${p.name}`;
  }
}
