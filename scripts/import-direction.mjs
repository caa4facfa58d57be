// Imports point one way (DESIGN.md §2): which top-level folder of src/ may import which. Turned into
// ESLint `no-restricted-imports` rules by eslint.config.js; test/import-direction.test.ts proves they
// catch a wrong-way import. The rules hold for what ships (dist/): unit tests (*.test.ts) may import
// anything, and test/, bench/ and scripts/ are not restricted.
//
// Every folder is listed, including those that do not exist yet, so the code that comes is held to it.
// A folder may always import itself. An entry "kms/client" allows that subfolder of kms only. A key
// "a/b" gives the files of that subfolder their own list instead of a's (it is no target of its own:
// whoever may import a may import a/b).

/** @type {Readonly<Record<string, readonly string[]>>} */
export const ALLOWED_IMPORTS = Object.freeze({
  common: [], // imports nothing of ours
  generated: [],
  crypto: ["common"],
  proto: ["common", "generated"],
  envelope: ["common", "crypto", "proto", "generated"],
  // Kubernetes objects as stored and served (JSON shape, kube's protobuf form): apiserver, scan and
  // recovery read stored objects through it
  "kube-object": ["common"],
  // implements the envelope's ports (KmsV2Service, KmsV1Service)
  "kms-plugin-client": ["common", "envelope", "proto", "generated"],
  "encryption-config": ["common", "crypto", "envelope", "kms-plugin-client", "proto", "generated"],
  storage: ["common", "crypto", "envelope", "proto", "generated"],
  apiserver: [
    "common",
    "crypto",
    "envelope",
    "encryption-config",
    "kms-plugin-client",
    "storage",
    "kube-object",
    "proto",
    "generated",
  ],
  // the KMS plugin: a client of the KMS, never the apiserver side or the KMS server's internals
  plugin: ["common", "crypto", "proto", "generated", "kms/client"],
  kms: ["common", "crypto", "iam", "proto", "generated"],
  // identity shared by kms and control plane: it imports neither
  iam: ["common", "crypto"],
  // staged operations use the Kubernetes API and the KMS API as a client would: never apiserver or
  // storage internals (nor scan, which reads the store itself)
  operations: ["common", "crypto", "envelope", "encryption-config", "kms/client", "proto", "generated"],
  "control-plane": ["common", "crypto", "iam", "operations", "encryption-config", "kms/client"],
  // CreateCluster's managed clusters: it starts an apiserver on a store and the plugin, as `up` does
  "control-plane/managed": [
    "common",
    "crypto",
    "iam",
    "operations",
    "encryption-config",
    "kms/client",
    "apiserver",
    "storage",
    "plugin",
  ],
  // reads stores and KMS backups as the apiserver, scan and plugin would (their value formats)
  recovery: [
    "common",
    "crypto",
    "kms",
    "iam",
    "storage",
    "envelope",
    "encryption-config",
    "scan",
    "plugin",
    "kube-object",
    "proto",
    "generated",
  ],
  // the web console's sources run in a browser: nothing of the servers
  console: ["common"],
  // the console's server side (registerConsole) sits in control-plane/console and follows its rules
  scan: ["common", "crypto", "envelope", "encryption-config", "storage", "kube-object", "proto", "generated"],
  // `atrest up` starts the parts together (the control plane too, with its cluster file); only the CLI starts it
  up: [
    "common",
    "control-plane",
    "operations",
    "crypto",
    "envelope",
    "encryption-config",
    "kms-plugin-client",
    "storage",
    "kube-object",
    "apiserver",
    "plugin",
    "kms",
    "iam",
    "proto",
    "generated",
  ],
  // the one place that reads argv, environment and signals; nothing imports it
  cli: [
    "common",
    "crypto",
    "envelope",
    "encryption-config",
    "kms-plugin-client",
    "storage",
    "kube-object",
    "apiserver",
    "plugin",
    "kms",
    "iam",
    "operations",
    "control-plane",
    "recovery",
    "scan",
    "up",
    "proto",
    "generated",
  ],
});

/** Folders beside src/ that what ships never imports. */
const OUTSIDE_SRC = ["test", "bench", "scripts"];

/** How deep below a top-level folder the rules reach (src/<folder>/a/b/c/d/x.ts). */
const MAX_DEPTH = 5;

/** Folder names are [a-z-/]: only "." needs escaping in a (unicode) regular expression. */
const escape = (s) => s.replace(/\./g, "\\.");

/** The no-restricted-imports patterns for a file `depth` folders below src/<folder>/. */
function patternsFor(folder, depth) {
  const allowed = ALLOWED_IMPORTS[folder];
  const nesting = folder.split("/").length - 1;
  const up = `(?:\\.\\./){${depth + 1 + nesting}}`; // from the file to src/
  const patterns = [];
  for (const target of Object.keys(ALLOWED_IMPORTS).filter((t) => !t.includes("/"))) {
    if (target === folder || allowed.includes(target)) continue;
    const subfolders = allowed
      .filter((a) => a.startsWith(`${target}/`))
      .map((a) => a.slice(target.length + 1));
    const except = subfolders.map((s) => `(?!${escape(s)}/)`).join("");
    patterns.push({
      regex: `^${up}${escape(target)}(?:\\.js)?(?:/${except}|$)`,
      caseSensitive: true,
      message: `src/${folder} must not import src/${target}${subfolders.length > 0 ? ` (only ${subfolders.map((s) => `${target}/${s}`).join(", ")})` : ""}: imports point one way (DESIGN.md §2; the table is scripts/import-direction.mjs).`,
    });
  }
  patterns.push({
    regex: `^\\.\\./${up}(?:${OUTSIDE_SRC.map(escape).join("|")})(?:/|$)`,
    caseSensitive: true,
    message: `src/ must not import test, bench or scripts code: only unit tests (*.test.ts) may, and nothing test-only ships in dist/.`,
  });
  return patterns;
}

/** Flat-config objects: one per folder and depth (a later object for the same file would replace it). */
export function importDirectionConfigs() {
  const configs = [];
  for (const folder of Object.keys(ALLOWED_IMPORTS)) {
    for (let depth = 0; depth <= MAX_DEPTH; depth++) {
      configs.push({
        files: [`src/${folder}/${"*/".repeat(depth)}*.ts`, `src/${folder}/${"*/".repeat(depth)}*.tsx`],
        ignores: ["**/*.test.ts"],
        rules: { "no-restricted-imports": ["error", { patterns: patternsFor(folder, depth) }] },
      });
    }
  }
  return configs;
}
