import { Option, type Command } from "commander";
import { AtrestError } from "../common/errors.js";
import { buildEncryptionState } from "../encryption-config/build.js";
import type { EncryptionState } from "../encryption-config/encryption-state.js";
import { grpcKmsClients } from "../encryption-config/grpc-clients.js";
import { loadEncryptionConfigurationFile } from "../encryption-config/load.js";
import {
  policyFromConfiguration,
  renderScanJson,
  renderScanTable,
  SCAN_EXIT,
  scanStore,
  type ScanOptions,
} from "../scan/index.js";
import { openStore, storeEndpointFromFlags } from "../storage/open-store.js";
import { addEtcdTlsOptions, etcdTlsFrom, type EtcdTlsFlags } from "./etcd-tls-flags.js";

interface ScanFlags extends EtcdTlsFlags {
  etcdServers?: string;
  datastoreEndpoint?: string;
  etcdPrefix: string;
  encryptionProviderConfig?: string;
  resource?: string[];
  output: "table" | "json";
  failOnStale?: boolean;
  pageSize?: number;
  maxObjects?: number;
}

const EXIT_HELP = `
Exit status:
  ${SCAN_EXIT.ok}   nothing found: no plaintext where encryption is expected, everything parses and authenticates
  1   unexpected error
  2   invalid arguments or configuration
  3   the store or a KMS plugin was unavailable (some objects could not be checked)
  ${SCAN_EXIT.plaintext}  objects in plaintext that should be encrypted (resources the configuration encrypts;
      without --encryption-provider-config: Secrets)
  ${SCAN_EXIT.malformed}  stored values that do not parse
  ${SCAN_EXIT.failed}  values that fail to decrypt or authenticate through the configuration (wrong or missing key,
      unknown provider, object moved to another key)
  ${SCAN_EXIT.stale}  stale objects (only with --fail-on-stale): an update would re-encrypt them
  When several apply, the first of ${SCAN_EXIT.failed}, ${SCAN_EXIT.malformed}, ${SCAN_EXIT.plaintext}, ${SCAN_EXIT.unverified}, ${SCAN_EXIT.stale} wins; -o json lists them all (summary.findings).

The scan only reads the store. It never prints a value or plaintext: only counts, key names, KMS key ids
(as stored and as sha256: hashes) and the storage keys of the objects behind each finding.`;

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0)
      throw new AtrestError("invalid-argument", `${name} must be a positive integer, got "${value}"`);
    return n;
  };
}

export function collectResources(value: string, previous: string[] | undefined): string[] {
  const parts = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const p of parts) {
    if (p.includes("/") || p.includes("*")) {
      throw new AtrestError(
        "invalid-argument",
        `--resource takes resource names like secrets or deployments.apps, got "${p}"`,
      );
    }
  }
  return [...(previous ?? []), ...parts];
}

/** `atrest scan`: how every object under the prefix is stored, checked against a configuration. */
export function registerScan(program: Command): void {
  const cmd = program.command("scan");
  addEtcdTlsOptions(cmd)
    .description(
      "report how the objects in a store are encrypted (plaintext, provider, key, KMS key_id, DEK source) without printing any value",
    )
    .option("--etcd-servers <urls>", "etcd client URLs, comma-separated")
    .option("--datastore-endpoint <url>", "sqlite:///absolute/path.db (the embedded store)")
    .option("--etcd-prefix <prefix>", "the apiserver's --etcd-prefix", "/registry")
    .option(
      "--encryption-provider-config <file>",
      "check every object against this EncryptionConfiguration (stale, authenticates)",
    )
    .option(
      "--resource <names>",
      "only these resources (secrets,configmaps,deployments.apps; repeatable); default all",
      collectResources,
    )
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["table", "json"]).default("table"),
    )
    .option("--fail-on-stale", "exit non-zero when objects are stale (e.g. to confirm a rotation finished)")
    .option("--page-size <n>", "keys per list call", positiveInt("--page-size"))
    .option("--max-objects <n>", "object keys shown per finding in the table", positiveInt("--max-objects"))
    .addHelpText("after", EXIT_HELP)
    .action(async (flags: ScanFlags) => {
      const endpoint = storeEndpointFromFlags({
        etcdServers: flags.etcdServers,
        ...etcdTlsFrom(flags),
        datastoreEndpoint: flags.datastoreEndpoint,
      });
      let state: EncryptionState | undefined;
      const options: { -readonly [K in keyof ScanOptions]: ScanOptions[K] } = {
        prefix: flags.etcdPrefix,
        failOnStale: flags.failOnStale === true,
        ...(flags.resource === undefined ? {} : { resources: flags.resource }),
        ...(flags.pageSize === undefined ? {} : { pageSize: flags.pageSize }),
      };
      if (flags.encryptionProviderConfig !== undefined) {
        const { config, contentHash } = await loadEncryptionConfigurationFile(flags.encryptionProviderConfig);
        state = await buildEncryptionState(config, {
          clients: grpcKmsClients,
          contentHash,
          background: false,
        });
        options.verifier = state;
        options.policy = policyFromConfiguration(config);
        options.configurationHash = contentHash;
      }
      const store = openStore(endpoint);
      try {
        const report = await scanStore(store, options);
        process.stdout.write(
          flags.output === "json"
            ? renderScanJson(report)
            : renderScanTable(report, flags.maxObjects === undefined ? {} : { maxObjects: flags.maxObjects }),
        );
        process.exitCode = report.summary.exitCode;
      } finally {
        state?.close();
        await store.close();
      }
    });
}
