/**
 * The import-direction rules (scripts/import-direction.mjs, run by `npm run lint`) catch imports against
 * DESIGN.md §2 and pass the tree as it is. Linted here with only those rules (no type information), so
 * the test is quick and says exactly which rule holds.
 */
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ESLint, type Linter } from "eslint";
import tseslint from "typescript-eslint";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

interface ImportDirection {
  readonly ALLOWED_IMPORTS: Readonly<Record<string, readonly string[]>>;
  importDirectionConfigs(): Linter.Config[];
}

async function directionOnly(): Promise<{ eslint: ESLint; table: ImportDirection }> {
  const table = (await import(
    pathToFileURL(join(root, "scripts", "import-direction.mjs")).href
  )) as ImportDirection;
  const eslint = new ESLint({
    cwd: root,
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ["**/*.ts"],
        languageOptions: { parser: tseslint.parser },
        // Only the direction rules run here: other rules' disable comments are not ours to judge.
        linterOptions: { reportUnusedDisableDirectives: "off" },
      },
      ...table.importDirectionConfigs(),
    ],
  });
  return { eslint, table };
}

/** The messages of no-restricted-imports for `code` placed at `filePath`. */
async function violations(eslint: ESLint, filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, filePath) });
  assert.ok(result);
  for (const m of result.messages) assert.equal(m.ruleId, "no-restricted-imports", m.message);
  return result.messages.map((m) => m.message);
}

test("an import against the direction fails lint, naming the rule it breaks", async () => {
  const { eslint } = await directionOnly();
  const wrong: Array<[string, string, RegExp]> = [
    [
      "src/envelope/kmsv2/runtime.ts",
      `import type { Store } from "../../storage/store.js";`,
      /src\/envelope must not import src\/storage/,
    ],
    [
      "src/envelope/provider.ts",
      `import type { KmsV2Client } from "../kms-plugin-client/index.js";`,
      /envelope must not import src\/kms-plugin-client/,
    ],
    [
      "src/crypto/aes-gcm.ts",
      `import { contextForKey } from "../envelope/transformer.js";`,
      /crypto must not import src\/envelope/,
    ],
    [
      "src/storage/memory-store.ts",
      `export * from "../apiserver/index.js";`,
      /storage must not import src\/apiserver/,
    ],
    [
      "src/kms-plugin-client/kms-v2-client.ts",
      `import "../encryption-config/load.js";`,
      /kms-plugin-client must not import src\/encryption-config/,
    ],
    [
      "src/plugin/plugin.ts",
      `import { startApiServer } from "../apiserver/index.js";`,
      /plugin must not import src\/apiserver/,
    ],
    [
      "src/plugin/options.ts",
      `import { parseEncryptionConfiguration } from "../encryption-config/load.js";`,
      /plugin must not import src\/encryption-config/,
    ],
    [
      "src/plugin/plugin.ts",
      `import type { KmsDb } from "../kms/store/database.js";`,
      /plugin must not import src\/kms \(only kms\/client\)/,
    ],
    ["src/kms/server.ts", `import "../control-plane/clusters.js";`, /kms must not import src\/control-plane/],
    ["src/iam/principals.ts", `import "../kms/key-service.js";`, /iam must not import src\/kms/],
    [
      "src/operations/rewrite/engine.ts",
      `import type { Store } from "../../storage/store.js";`,
      /operations must not import src\/storage/,
    ],
    [
      "src/operations/stages.ts",
      `import { Registry } from "../apiserver/registry.js";`,
      /operations must not import src\/apiserver/,
    ],
    [
      "src/control-plane/api.ts",
      `import { KeyService } from "../kms/key-service.js";`,
      /control-plane must not import src\/kms \(only kms\/client\)/,
    ],
    ["src/console/app.ts", `import "../control-plane/api.js";`, /console must not import src\/control-plane/],
    [
      "src/control-plane/service.ts",
      `import { startApiServer } from "../apiserver/index.js";`,
      /src\/control-plane must not import src\/apiserver/,
    ],
    [
      "src/control-plane/managed/runtime.ts",
      `import { KeyService } from "../../kms/key-service.js";`,
      /src\/control-plane\/managed must not import src\/kms \(only kms\/client\)/,
    ],
    [
      "src/control-plane/managed/a/deep.ts",
      `import "../../../recovery/export.js";`,
      /src\/control-plane\/managed must not import src\/recovery/,
    ],
    ["src/recovery/export.ts", `import "../apiserver/server.js";`, /recovery must not import src\/apiserver/],
    [
      "src/common/errors.ts",
      `import type { Transformer } from "../envelope/transformer.js";`,
      /common must not import src\/envelope/,
    ],
    [
      "src/apiserver/server.ts",
      `import { runAtrest } from "../cli/program.js";`,
      /apiserver must not import src\/cli/,
    ],
    [
      "src/storage/open-store.ts",
      `import { registerStoreConformance } from "../../test/support/store-conformance.js";`,
      /must not import test, bench or scripts code/,
    ],
    [
      "src/kms/a/b/deep.ts",
      `import "../../../../bench/kms.js";`,
      /must not import test, bench or scripts code/,
    ],
  ];
  for (const [file, code, expected] of wrong) {
    const found = await violations(eslint, file, code);
    assert.equal(found.length, 1, `${file}: ${code} → ${found.join("; ") || "no error"}`);
    assert.match(found[0]!, expected, `${file}: ${code}`);
  }
});

test("imports along the direction pass", async () => {
  const { eslint } = await directionOnly();
  const right: Array<[string, string]> = [
    ["src/apiserver/registry.ts", `import type { Store } from "../storage/store.js";`],
    ["src/storage/transforming-store.ts", `import type { Transformer } from "../envelope/transformer.js";`],
    ["src/envelope/kmsv2/runtime.ts", `import { hkdfExpandSha256 } from "../../crypto/index.js";`],
    [
      "src/kms-plugin-client/kms-v2-client.ts",
      `import type { KmsV2Service } from "../envelope/kms-service.js";`,
    ],
    ["src/plugin/plugin.ts", `import { KmsClient } from "../kms/client/index.js";`],
    ["src/plugin/plugin.ts", `import { parseListenAddress } from "../common/listen-address.js";`],
    ["src/control-plane/api.ts", `import "../iam/principals.js";`],
    ["src/control-plane/api.ts", `import "../operations/stages.js";`],
    // Managed clusters start an apiserver on a store and the plugin (the nested table entry).
    ["src/control-plane/managed/runtime.ts", `import { startApiServer } from "../../apiserver/index.js";`],
    ["src/control-plane/managed/runtime.ts", `import { openStore } from "../../storage/open-store.js";`],
    ["src/control-plane/managed/runtime.ts", `import "../../operations/index.js";`],
    // A nested entry is no target of its own: whoever may import control-plane may import it.
    ["src/cli/control-plane.ts", `import "../control-plane/managed/index.js";`],
    ["src/kms/server.ts", `import "../iam/principals.js";`],
    ["src/envelope/kmsv2/runtime.ts", `import { SeedState } from "./seed-state.js";`],
    // Unit tests are not what ships: they may reach test support code and other layers.
    [
      "src/storage/memory-store.test.ts",
      `import { registerStoreConformance } from "../../test/support/store-conformance.js";`,
    ],
    [
      "src/plugin/alibaba-sdk-client.test.ts",
      `import { computeSignatureV1 } from "../kms/signature/index.js";`,
    ],
  ];
  for (const [file, code] of right)
    assert.deepEqual(await violations(eslint, file, code), [], `${file}: ${code}`);
});

test("every folder of src/ has its rules, and the tree as it is follows them", async () => {
  const { eslint, table } = await directionOnly();
  const folders = readdirSync(join(root, "src")).filter((f) => statSync(join(root, "src", f)).isDirectory());
  for (const f of folders) assert.ok(f in table.ALLOWED_IMPORTS, `src/${f} has no import-direction rules`);
  for (const future of ["iam", "control-plane", "operations", "recovery", "console"])
    assert.ok(future in table.ALLOWED_IMPORTS, `src/${future}`);
  const results = await eslint.lintFiles(["src/**/*.ts"]);
  const problems = results.flatMap((r) => r.messages.map((m) => `${r.filePath}:${m.line}: ${m.message}`));
  assert.deepEqual(problems, []);
  assert.ok(results.length > 100, "the whole of src/ was linted");
});
