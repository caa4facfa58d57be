import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The .proto files under proto/ that atrest speaks (DESIGN.md §3, §4). */
export const PROTO_FILES = {
  kmsV2: "kms-v2.proto",
  kmsV1beta1: "kms-v1beta1.proto",
  encryptedObject: "kms-v2-encrypted-object.proto",
} as const;

export type ProtoFile = keyof typeof PROTO_FILES;

let cachedDir: string | undefined;

/**
 * The repository's proto/ directory. Found by walking up from this module, so it works from the
 * TypeScript sources (src/proto/) and from the compiled output (dist/proto/) alike.
 */
export function protoDir(): string {
  if (cachedDir !== undefined) return cachedDir;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "proto", PROTO_FILES.kmsV2);
    if (existsSync(candidate)) {
      cachedDir = join(dir, "proto");
      return cachedDir;
    }
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error(`proto/${PROTO_FILES.kmsV2} not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export function protoPath(file: ProtoFile): string {
  return join(protoDir(), PROTO_FILES[file]);
}
