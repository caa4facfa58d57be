import { createHash } from "node:crypto";

/** Key ids in logs and metrics are `sha256:<hex>` (DESIGN.md §8), as kube-apiserver reports them. */
export function keyIdHash(keyId: string | Uint8Array): string {
  return `sha256:${createHash("sha256").update(keyId).digest("hex")}`;
}
