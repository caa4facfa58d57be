/**
 * Validation problems rendered the way Kubernetes' `field.Error` renders them
 * (`<path>: <Type>: <value>: <detail>`), so an operator sees the same line atrest and kube-apiserver
 * print for the same file. Values are never key material: secrets are shown as "REDACTED".
 */

export interface ConfigIssue {
  /** The field path, e.g. `resources[0].providers[1].kms.name` ("" for the whole file). */
  readonly path: string;
  /** The complete line, e.g. `resources[0].providers[1].kms.name: Invalid value: "a:b": invalid KMS provider name a:b, must not contain ':'`. */
  readonly message: string;
}

/** A value shown in an "Invalid value" line; `raw` is printed as is (Go's %v / Stringer cases). */
export type BadValue = string | number | { readonly raw: string } | readonly string[];

export function joinPath(base: string, child: string | number): string {
  if (typeof child === "number") return `${base}[${child}]`;
  return base === "" ? child : `${base}.${child}`;
}

export function pathFromSegments(segments: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const s of segments) out = joinPath(out, typeof s === "number" ? s : String(s));
  return out;
}

/** Go's %q for the strings that appear in configuration files (close enough for printable text). */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

function renderValue(value: BadValue): string {
  if (typeof value === "string") return goQuote(value);
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) return `[]string{${(value as readonly string[]).map(goQuote).join(", ")}}`;
  return (value as { raw: string }).raw;
}

function prefixed(path: string, body: string): string {
  return path === "" ? body : `${path}: ${body}`;
}

export function requiredIssue(path: string, detail: string): ConfigIssue {
  return { path, message: prefixed(path, `Required value: ${detail}`) };
}

export function invalidIssue(path: string, value: BadValue | undefined, detail: string): ConfigIssue {
  // undefined: kube's field.OmitValueType — the value is not printed.
  const body = value === undefined ? "Invalid value" : `Invalid value: ${renderValue(value)}`;
  return { path, message: prefixed(path, `${body}: ${detail}`) };
}

export function plainIssue(path: string, message: string): ConfigIssue {
  return { path, message };
}

/** Kubernetes' aggregate error text: the single message, or `[m1, m2, …]`. */
export function aggregateMessage(issues: readonly ConfigIssue[]): string {
  if (issues.length === 1) return issues[0]!.message;
  return `[${issues.map((i) => i.message).join(", ")}]`;
}
