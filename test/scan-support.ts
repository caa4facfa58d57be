/**
 * Helpers shared by the `atrest scan` end-to-end suites: configuration files, writing values through a
 * real encryption configuration (as the apiserver would), and parsing the JSON report.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildEncryptionState } from "../src/encryption-config/build.js";
import { grpcKmsClients } from "../src/encryption-config/grpc-clients.js";
import { loadEncryptionConfigurationFile } from "../src/encryption-config/load.js";
import { contextForKey } from "../src/envelope/transformer.js";
import type { ScanReport } from "../src/scan/report.js";
import type { Store } from "../src/storage/store.js";

/** The derived vectors' key (base64), used by every local provider in the suites' configurations. */
export const VECTOR_SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

export function writeConfig(
  dir: string,
  name: string,
  rules: Array<{ resources: string[]; providers: string[] }>,
): string {
  const path = join(dir, name);
  const lines = ["apiVersion: apiserver.config.k8s.io/v1", "kind: EncryptionConfiguration", "resources:"];
  for (const r of rules) {
    lines.push(
      `  - resources: [${r.resources.join(", ")}]`,
      "    providers:",
      ...r.providers.map((p) => `      - ${p}`),
    );
  }
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

export const localKeys = (name = "key1", secret = VECTOR_SECRET) =>
  `{keys: [{name: ${name}, secret: "${secret}"}]}`;

/** Encrypts each plaintext with the configuration's writer for its resource and creates the key. */
export async function writeThrough(
  configPath: string,
  store: Store,
  resource: string,
  entries: Record<string, string | Buffer>,
): Promise<void> {
  const { config, contentHash } = await loadEncryptionConfigurationFile(configPath);
  const state = await buildEncryptionState(config, {
    clients: grpcKmsClients,
    contentHash,
    background: false,
  });
  try {
    const t = state.transformerFor(resource);
    for (const [key, plaintext] of Object.entries(entries)) {
      await store.create(key, await t.transformToStorage(Buffer.from(plaintext), contextForKey(key)));
    }
  } finally {
    state.close();
  }
}

export function parseReport(stdout: string): ScanReport {
  try {
    return JSON.parse(stdout) as ScanReport;
  } catch (err) {
    assert.fail(`scan -o json printed no JSON: ${(err as Error).message}\n${stdout}`);
  }
}
