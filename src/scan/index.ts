/**
 * `atrest scan` as a library: classify stored values by their bytes, scan a store (optionally reading
 * every value through an encryption configuration), render the report. Reused by `atrest up` and the
 * operator commands.
 *
 *   const report = await scanStore(store, { prefix: "/registry", verifier: state, policy: policyFromConfiguration(config) });
 *   process.stdout.write(renderScanTable(report));
 *   process.exitCode = report.summary.exitCode;
 */
export {
  classifyValue,
  providerLabel,
  type ValueClass,
  type EncryptedValueClass,
  type PlaintextEncoding,
  type KmsV2DekSourceType,
  type LocalProvider,
} from "./classify.js";
export {
  defaultScanPolicy,
  policyFromConfiguration,
  writerLabel,
  type ResourcePolicy,
  type ScanPolicy,
} from "./policy.js";
export {
  SCAN_EXIT,
  SCAN_REPORT_API_VERSION,
  SCAN_REPORT_KIND,
  ResourceTally,
  summarize,
  type Finding,
  type KeyIdCount,
  type ObjectProblem,
  type ResourceObjects,
  type ResourceReport,
  type ScanReport,
  type ScanSummary,
  type VerifyOutcome,
} from "./report.js";
export {
  scanStore,
  DEFAULT_SCAN_CONCURRENCY,
  DEFAULT_SCAN_PAGE_SIZE,
  type ScanOptions,
  type ScanVerifier,
} from "./scan.js";
export { renderScanJson, renderScanTable, type TableOptions } from "./render.js";
export {
  DEFAULT_ETCD_PREFIX,
  NO_RESOURCE,
  listPrefixesFor,
  normalizePrefix,
  resourceOfKey,
} from "./storage-path.js";
export { storeScanner, type StoreScanner } from "./store-scanner.js";
