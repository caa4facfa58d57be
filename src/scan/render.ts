/**
 * The two faces of a scan report: stable JSON for automation (`-o json`) and a table for people.
 * Both show counts, key ids (as stored and as `sha256:` hashes) and object keys — never a value.
 */
import type { ObjectProblem, ResourceReport, ScanReport } from "./report.js";

/** The JSON document, one line per call site's choice of indentation; keys are already sorted. */
export function renderScanJson(report: ScanReport, indent = 2): string {
  return `${JSON.stringify(report, null, indent)}\n`;
}

export interface TableOptions {
  /** Object keys listed per finding and resource before "… and N more" (default 20). */
  readonly maxObjects?: number;
}

const DEFAULT_MAX_OBJECTS = 20;

function pad(
  cells: readonly string[],
  widths: readonly number[],
  rightAlign: (i: number) => boolean,
): string {
  return cells
    .map((c, i) => (rightAlign(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
    .join("  ")
    .trimEnd();
}

function table(rows: readonly (readonly string[])[], rightAlign: (i: number) => boolean): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => pad(r, widths, rightAlign));
}

function counts(map: Readonly<Record<string, number>>): string {
  return Object.entries(map)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
}

function dash(n: number | null): string {
  return n === null ? "-" : String(n);
}

function listLines(title: string, entries: readonly (string | ObjectProblem)[], max: number): string[] {
  if (entries.length === 0) return [];
  const out = [`  ${title} (${entries.length}):`];
  for (const e of entries.slice(0, max))
    out.push(typeof e === "string" ? `    ${e}` : `    ${e.key}: ${e.reason}`);
  if (entries.length > max) out.push(`    … and ${entries.length - max} more (-o json lists all)`);
  return out;
}

function resourceDetail(name: string, r: ResourceReport, max: number): string[] {
  const lines: string[] = [];
  const add = (label: string, value: string) => {
    if (value !== "") lines.push(`  ${label.padEnd(14)} ${value}`);
  };
  add("providers:", counts(r.byProvider));
  add("plaintext as:", counts(r.byPlaintextEncoding));
  add("key names:", counts(r.byKeyName));
  add("kms providers:", counts(r.byKmsProvider));
  add(
    "key ids:",
    Object.entries(r.byKeyId)
      .map(([id, k]) => `${JSON.stringify(id)} (${k.keyIdHash}) ${k.count}`)
      .join(", "),
  );
  add("DEK sources:", counts(r.byDekSourceType));
  lines.push(
    ...listLines("plaintext, should be encrypted", r.objects.plaintext, max),
    ...listLines("fail to authenticate", r.objects.failed, max),
    ...listLines("malformed", r.objects.malformed, max),
    ...listLines("not checked (KMS unavailable)", r.objects.unverified, max),
    ...listLines("stale (an update rewrites them)", r.objects.stale, max),
  );
  return lines.length === 0 ? [] : [name, ...lines];
}

/** The human-readable report. */
export function renderScanTable(report: ScanReport, options: TableOptions = {}): string {
  const max = options.maxObjects ?? DEFAULT_MAX_OBJECTS;
  const verifying = report.summary.verified !== null;
  const header = [
    `prefix ${report.prefix} at revision ${report.revision}`,
    report.configuration === null
      ? "no encryption configuration (classified by bytes only)"
      : `configuration ${report.configuration.contentHash || "(given)"}`,
  ].join("; ");

  const head = [
    "RESOURCE",
    "TOTAL",
    "PLAINTEXT",
    "ENCRYPTED",
    "MALFORMED",
    ...(verifying ? ["STALE", "FAILED"] : []),
    "EXPECTED",
  ];
  const rows: string[][] = [head];
  for (const [name, r] of Object.entries(report.resources)) {
    const expected = r.writer ?? (r.encryptionExpected ? "encrypted" : "any");
    rows.push([
      name,
      String(r.total),
      r.plaintextViolations > 0 ? `${r.plaintext}!` : String(r.plaintext),
      String(r.encrypted),
      String(r.malformed),
      ...(verifying ? [dash(r.stale), dash(r.failed)] : []),
      expected,
    ]);
  }
  const lines = [header, ""];
  if (rows.length === 1) lines.push("no objects found under the prefix");
  else lines.push(...table(rows, (i) => i > 0 && i < head.length - 1));

  const details = Object.entries(report.resources).flatMap(([name, r]) => resourceDetail(name, r, max));
  if (details.length > 0) lines.push("", ...details);

  const s = report.summary;
  const parts = [
    `${s.total} objects in ${s.resources} resources`,
    `${s.encrypted} encrypted`,
    `${s.plaintext} plaintext`,
  ];
  if (s.plaintextViolations > 0)
    parts.push(`${s.plaintextViolations} plaintext where encryption is expected (!)`);
  if (s.malformed > 0) parts.push(`${s.malformed} malformed`);
  if (verifying)
    parts.push(`${s.verified ?? 0} authenticated`, `${s.stale ?? 0} stale`, `${s.failed ?? 0} failed`);
  if ((s.unverified ?? 0) > 0) parts.push(`${s.unverified} not checked`);
  lines.push("", `summary: ${parts.join(", ")}`);
  lines.push(
    s.findings.length === 0 ? "result: ok (exit 0)" : `result: ${s.findings.join(", ")} (exit ${s.exitCode})`,
  );
  return `${lines.join("\n")}\n`;
}
