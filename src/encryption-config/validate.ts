/**
 * kube-apiserver's EncryptionConfiguration rules (k8s.io/apiserver validation_encryption.go and the rule
 * masking check of encryptionconfig/config.go), with the same paths and messages, all reported at once.
 */
import {
  invalidIssue,
  joinPath,
  plainIssue,
  requiredIssue,
  goQuote,
  type ConfigIssue,
} from "./field-error.js";
import { formatGoDuration, parseGoDurationNs } from "../common/go-duration.js";
import {
  ANY_GROUP_ANY_RESOURCE,
  groupResourceKey,
  groupResourceYamlString,
  parseGroupResource,
  sameGroupResource,
  type GroupResource,
} from "./group-resource.js";
import type { RawEncryptionConfiguration, RawKeys, RawKms, RawProvider } from "./schema.js";
import {
  DEFAULT_KMS_TIMEOUT_MS,
  DEFAULT_KMS_V1_CACHE_SIZE,
  deepFreeze,
  type EncryptionConfiguration,
  type KeyConfig,
  type ProviderConfig,
  type ResourceRule,
} from "./types.js";

// kube-apiserver's messages, word for word (validation_encryption.go).
const moreThanOneElementErr =
  "more than one provider specified in a single element, should split into different list elements";
const noProviderErr =
  "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity";
const keyLenErr = (got: number, expected: readonly number[]) =>
  `secret is not of the expected length, got ${got}, expected one of [${expected.join(" ")}]`;
const unsupportedSchemeErr = (scheme: string) =>
  `unsupported scheme ${goQuote(scheme)} for KMS provider, only unix is supported`;
// kube formats this with the literal word "apiVersion" instead of the value; kept as kube prints it.
const unsupportedKMSAPIVersionErr =
  "unsupported apiVersion apiVersion for KMS provider, only v1 and v2 are supported";
const atLeastOneRequiredErr = (what: string) => `at least one ${what} is required`;
const invalidURLErr = (err: string) => `invalid endpoint for kms provider, error: ${err}`;
const mandatoryFieldErr = (field: string, of: string) => `${field} is a mandatory field for a ${of}`;
const base64EncodingErr = "secrets must be base64 encoded";
const zeroOrNegativeErr = (field: string) => `${field} should be a positive value`;
const nonZeroErr = (field: string) => `${field} should be a positive value, or negative to disable`;
const invalidKMSConfigNameErr = (name: string) => `invalid KMS provider name ${name}, must not contain ':'`;
const duplicateKMSConfigNameErr = (name: string) =>
  `duplicate KMS provider name ${name}, names must be unique`;
const eventsGroupErr =
  "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file";
const extensionsGroupErr = "'extensions' group has been removed and cannot be used for encryption";
const starResourceErr =
  "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources";
const overlapErr =
  "using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked";
const nonRESTAPIResourceErr = "resources which do not have REST API/s cannot be encrypted";
const resourceNameErr = "resource name should not contain capital letters";
const resourceAcrossGroupErr = "encrypting the same resource across groups is not supported";
const duplicateResourceErr = "the same resource cannot be specified multiple times";
const maskedErr = (gr: GroupResource, by: GroupResource) =>
  `resource ${goQuote(groupResourceYamlString(gr))} is masked by earlier rule ${goQuote(groupResourceYamlString(by))}`;

const AES_KEY_SIZES = [16, 24, 32] as const;
const SECRETBOX_KEY_SIZES = [32] as const;
const ACCEPTED_GVKS: ReadonlyArray<readonly [string, string]> = [
  ["apiserver.config.k8s.io/v1", "EncryptionConfiguration"],
  ["v1", "EncryptionConfig"], // the legacy form
];

export interface ValidateOptions {
  /** Automatic reload is on: KMS v1 names must then be unique too (as kube-apiserver requires). */
  readonly reload?: boolean;
}

export interface ValidationResult {
  readonly config?: EncryptionConfiguration;
  readonly issues: readonly ConfigIssue[];
}

/** Applies every rule to a shape-checked file; returns the frozen config only when nothing is wrong. */
export function validateEncryptionConfiguration(
  raw: RawEncryptionConfiguration,
  options: ValidateOptions = {},
): ValidationResult {
  const issues: ConfigIssue[] = [];
  issues.push(...validateTypeMeta(raw));

  const root = "resources";
  const rules = raw.resources ?? [];
  if (rules.length === 0) {
    issues.push(requiredIssue(root, atLeastOneRequiredErr(root)));
    return { issues };
  }

  const kmsNames = new Set<string>();
  const built: ResourceRule[] = [];
  for (const [i, rule] of rules.entries()) {
    const r = joinPath(joinPath(root, i), "resources");
    const p = joinPath(joinPath(root, i), "providers");
    const resources = rule.resources ?? [];
    const providersRaw = rule.providers ?? [];
    if (resources.length === 0) issues.push(requiredIssue(r, atLeastOneRequiredErr(r)));
    issues.push(...validateResourceOverlap(resources, r));
    issues.push(...validateResourceNames(resources, r));
    if (providersRaw.length === 0) issues.push(requiredIssue(p, atLeastOneRequiredErr(p)));

    const providers: ProviderConfig[] = [];
    for (const [j, provider] of providersRaw.entries()) {
      const path = joinPath(p, j);
      const single = validateSingleProvider(provider, path);
      issues.push(...single);
      if (single.length > 0) continue;
      const result = validateProvider(provider, path, kmsNames, options.reload === true);
      issues.push(...result.issues);
      if (result.provider !== undefined) providers.push(result.provider);
    }
    built.push({ resources: [...resources], providers });
  }
  issues.push(...validateMasking(built));

  if (issues.length > 0) return { issues };
  const apiVersion = raw.apiVersion === "v1" ? "v1" : "apiserver.config.k8s.io/v1";
  const kind = raw.kind === "EncryptionConfig" ? "EncryptionConfig" : "EncryptionConfiguration";
  return { config: deepFreeze({ apiVersion, kind, resources: built }), issues };
}

function validateTypeMeta(raw: RawEncryptionConfiguration): ConfigIssue[] {
  const apiVersion = raw.apiVersion ?? "";
  const kind = raw.kind ?? "";
  if (kind === "") return [plainIssue("kind", "Object 'Kind' is missing")];
  if (apiVersion === "") return [plainIssue("apiVersion", "Object 'apiVersion' is missing")];
  if (ACCEPTED_GVKS.some(([v, k]) => v === apiVersion && k === kind)) return [];
  return [plainIssue("kind", `no kind ${goQuote(kind)} is registered for version ${goQuote(apiVersion)}`)];
}

function validateResourceOverlap(resources: readonly string[], path: string): ConfigIssue[] {
  if (resources.length < 2) return [];
  const grs = resources.map(parseGroupResource);
  let hasOverlap = false;
  let hasDuplicate = false;
  for (const [i, r1] of grs.entries()) {
    for (const [j, r2] of grs.entries()) {
      if (i === j) continue;
      if (sameGroupResource(r1, r2) && !hasDuplicate) {
        hasDuplicate = true;
        continue;
      }
      if (hasOverlap) continue;
      if (sameGroupResource(r1, ANY_GROUP_ANY_RESOURCE)) {
        hasOverlap = true;
        continue;
      }
      if (r1.group !== r2.group) continue;
      if (r1.resource === "*" || r2.resource === "*") hasOverlap = true;
    }
  }
  const issues: ConfigIssue[] = [];
  if (hasDuplicate) issues.push(invalidIssue(path, resources, duplicateResourceErr));
  if (hasOverlap) issues.push(invalidIssue(path, resources, overlapErr));
  return issues;
}

function validateResourceNames(resources: readonly string[], path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [j, res] of resources.entries()) {
    const jj = joinPath(path, j);
    if (res.toLowerCase() !== res) {
      issues.push(invalidIssue(jj, res, resourceNameErr));
      continue;
    }
    if (res === "*") {
      issues.push(invalidIssue(jj, res, starResourceErr));
      continue;
    }
    if (res === "apiserveripinfo" || res === "serviceipallocations" || res === "servicenodeportallocations") {
      issues.push(invalidIssue(jj, res, nonRESTAPIResourceErr));
      continue;
    }
    const gr = parseGroupResource(res);
    if (gr.group === "events.k8s.io") {
      issues.push(invalidIssue(jj, res, eventsGroupErr));
      continue;
    }
    if (gr.group === "extensions") {
      issues.push(invalidIssue(jj, res, extensionsGroupErr));
      continue;
    }
    if (gr.group === "*" && gr.resource !== "*") {
      issues.push(invalidIssue(jj, res, resourceAcrossGroupErr));
      continue;
    }
  }
  return issues;
}

function validateSingleProvider(provider: RawProvider, path: string): ConfigIssue[] {
  const found = [
    provider.kms,
    provider.aesgcm,
    provider.aescbc,
    provider.secretbox,
    provider.identity,
  ].filter((v) => v !== undefined && v !== null).length;
  // kube prints the Go struct here (`Invalid value: apiserver.ProviderConfiguration{…}`) with pointer
  // addresses in it; the value is left out instead so the line is stable.
  if (found === 0) return [invalidIssue(path, undefined, noProviderErr)];
  if (found > 1) return [invalidIssue(path, undefined, moreThanOneElementErr)];
  return [];
}

interface ProviderResult {
  readonly provider?: ProviderConfig;
  readonly issues: readonly ConfigIssue[];
}

function validateProvider(
  provider: RawProvider,
  path: string,
  kmsNames: Set<string>,
  reload: boolean,
): ProviderResult {
  if (provider.kms !== undefined && provider.kms !== null) {
    const result = validateKms(provider.kms, joinPath(path, "kms"), kmsNames, reload);
    kmsNames.add(provider.kms.name ?? "");
    return result;
  }
  for (const type of ["aesgcm", "aescbc", "secretbox"] as const) {
    const keys = provider[type];
    if (keys === undefined || keys === null) continue;
    const sizes = type === "secretbox" ? SECRETBOX_KEY_SIZES : AES_KEY_SIZES;
    const result = validateKeys(keys, joinPath(joinPath(path, type), "keys"), sizes);
    return result.keys === undefined
      ? { issues: result.issues }
      : { provider: { type, keys: result.keys }, issues: result.issues };
  }
  return { provider: { type: "identity" }, issues: [] };
}

function validateKeys(
  raw: RawKeys,
  path: string,
  sizes: readonly number[],
): { keys?: KeyConfig[]; issues: ConfigIssue[] } {
  const keys = raw.keys ?? [];
  if (keys.length === 0) return { issues: [requiredIssue(path, atLeastOneRequiredErr("keys"))] };
  const issues: ConfigIssue[] = [];
  const out: KeyConfig[] = [];
  for (const [i, key] of keys.entries()) {
    const kp = joinPath(path, i);
    const name = key.name ?? "";
    const secret = key.secret ?? "";
    // Two keys may share a name, as kube-apiserver allows: a value one cannot open is tried with the next.
    if (name === "") issues.push(requiredIssue(joinPath(kp, "name"), mandatoryFieldErr("name", "key")));
    if (secret === "") {
      issues.push(requiredIssue(joinPath(kp, "secret"), mandatoryFieldErr("secret", "key")));
      continue;
    }
    const bytes = decodeStdBase64(secret);
    if (bytes === undefined) {
      issues.push(invalidIssue(joinPath(kp, "secret"), "REDACTED", base64EncodingErr));
      continue;
    }
    if (!sizes.includes(bytes)) {
      issues.push(invalidIssue(joinPath(kp, "secret"), "REDACTED", keyLenErr(bytes, sizes)));
      continue;
    }
    out.push({ name, secret });
  }
  return issues.length > 0 ? { issues } : { keys: out, issues };
}

/** Go's base64.StdEncoding: padded, strict alphabet. Returns the decoded length or undefined. */
function decodeStdBase64(s: string): number | undefined {
  // Go ignores \r and \n inside the input.
  const t = s.replace(/[\r\n]/g, "");
  if (t.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(t)) return undefined;
  return Buffer.from(t, "base64").length;
}

function validateKms(raw: RawKms, path: string, kmsNames: Set<string>, reload: boolean): ProviderResult {
  const issues: ConfigIssue[] = [];
  // kube's defaulting runs before validation: apiVersion v1, timeout 3s, cachesize 1000 for v1.
  const apiVersion =
    raw.apiVersion === undefined || raw.apiVersion === null || raw.apiVersion === "" ? "v1" : raw.apiVersion;
  const name = raw.name ?? "";
  const endpoint = raw.endpoint ?? "";
  const cacheSize = raw.cachesize ?? (apiVersion === "v1" ? DEFAULT_KMS_V1_CACHE_SIZE : undefined);

  // name
  const namePath = joinPath(path, "name");
  if (name === "") issues.push(requiredIssue(namePath, mandatoryFieldErr("name", "provider")));
  if (apiVersion !== "v1" && name.includes(":"))
    issues.push(invalidIssue(namePath, name, invalidKMSConfigNameErr(name)));
  if ((reload || apiVersion !== "v1") && kmsNames.has(name)) {
    issues.push(invalidIssue(namePath, name, duplicateKMSConfigNameErr(name)));
  }

  // timeout
  const timeoutPath = joinPath(path, "timeout");
  let timeoutNs = BigInt(DEFAULT_KMS_TIMEOUT_MS) * 1_000_000n;
  if (raw.timeout !== undefined && raw.timeout !== null) {
    const parsed = parseGoDurationNs(raw.timeout);
    if (parsed === undefined) {
      issues.push(invalidIssue(timeoutPath, raw.timeout, `time: invalid duration ${goQuote(raw.timeout)}`));
    } else {
      timeoutNs = parsed;
      if (parsed <= 0n)
        issues.push(
          invalidIssue(timeoutPath, { raw: formatGoDuration(parsed) }, zeroOrNegativeErr("timeout")),
        );
    }
  }

  // endpoint
  const endpointPath = joinPath(path, "endpoint");
  if (endpoint === "") {
    issues.push(invalidIssue(endpointPath, "", mandatoryFieldErr("endpoint", "kms")));
  } else {
    const scheme = urlScheme(endpoint);
    if (typeof scheme !== "string")
      issues.push(invalidIssue(endpointPath, endpoint, invalidURLErr(scheme.error)));
    else if (scheme !== "unix")
      issues.push(invalidIssue(endpointPath, endpoint, unsupportedSchemeErr(scheme)));
  }

  // cachesize
  const cachePath = joinPath(path, "cachesize");
  if (apiVersion !== "v1" && raw.cachesize !== undefined && raw.cachesize !== null) {
    issues.push(invalidIssue(cachePath, raw.cachesize, "cachesize is not supported in v2"));
  }
  if (apiVersion === "v1" && cacheSize === 0)
    issues.push(invalidIssue(cachePath, 0, nonZeroErr("cachesize")));

  // apiVersion
  if (apiVersion !== "v1" && apiVersion !== "v2") {
    issues.push(invalidIssue(joinPath(path, "apiVersion"), apiVersion, unsupportedKMSAPIVersionErr));
  }

  if (issues.length > 0 || (apiVersion !== "v1" && apiVersion !== "v2")) return { issues };
  const timeoutMs = Number(timeoutNs) / 1e6;
  const provider: ProviderConfig =
    apiVersion === "v1"
      ? {
          type: "kms",
          apiVersion,
          name,
          endpoint,
          cacheSize: cacheSize ?? DEFAULT_KMS_V1_CACHE_SIZE,
          timeoutMs,
        }
      : { type: "kms", apiVersion, name, endpoint, timeoutMs };
  return { provider, issues };
}

/** The scheme as Go's url.Parse sees it ("" when there is none), or url.Parse's error. */
function urlScheme(endpoint: string): string | { error: string } {
  if ([...endpoint].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f))
    return { error: `parse ${goQuote(endpoint)}: net/url: invalid control character in URL` };
  if (endpoint.startsWith(":")) return { error: `parse ${goQuote(endpoint)}: missing protocol scheme` };
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(endpoint);
  if (m !== null) return (m[1] ?? "").toLowerCase();
  const firstSegment = endpoint.split("/")[0] ?? "";
  if (firstSegment.includes(":")) {
    return { error: `parse ${goQuote(endpoint)}: first path segment in URL cannot contain colon` };
  }
  return "";
}

/**
 * kube-apiserver refuses a rule that an earlier rule's wildcard (`*.group` or `*.*`) already covers: the
 * later rule could never be used. Checked across rules (inside one list it is an overlap error instead).
 */
function validateMasking(rules: readonly ResourceRule[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const [i, rule] of rules.entries()) {
    const fromThisRule: string[] = [];
    for (const [j, text] of rule.resources.entries()) {
      const gr = parseGroupResource(text);
      const anyInGroup: GroupResource = { group: gr.group, resource: "*" };
      const path = joinPath(joinPath(joinPath("resources", i), "resources"), j);
      if (seen.has(groupResourceKey(anyInGroup)))
        issues.push(invalidIssue(path, text, maskedErr(gr, anyInGroup)));
      else if (seen.has(groupResourceKey(ANY_GROUP_ANY_RESOURCE))) {
        issues.push(invalidIssue(path, text, maskedErr(gr, ANY_GROUP_ANY_RESOURCE)));
      }
      fromThisRule.push(groupResourceKey(gr));
    }
    for (const k of fromThisRule) seen.add(k);
  }
  return issues;
}
