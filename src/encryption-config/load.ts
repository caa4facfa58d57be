/**
 * Reading an EncryptionConfiguration: YAML (or JSON) → shape (strict) → kube-apiserver's rules → a frozen,
 * typed value plus the content hash that automatic reload compares. Every problem comes back at once in
 * one AtrestError "invalid-argument" whose `details.issues` lists {path, message}.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { AtrestError } from "../common/errors.js";
import { yamlErrorRule } from "../common/yaml-decode.js";
import { aggregateMessage, plainIssue, type ConfigIssue } from "./field-error.js";
import { decodeShape } from "./schema.js";
import type { EncryptionConfiguration } from "./types.js";
import { validateEncryptionConfiguration } from "./validate.js";

export interface LoadOptions {
  /** Automatic reload is on (stricter KMS name uniqueness, as in kube-apiserver). */
  readonly reload?: boolean;
  /** The file name shown in messages. */
  readonly source?: string;
}

export interface LoadedEncryptionConfiguration {
  readonly config: EncryptionConfiguration;
  /** `sha256:<hex>` of the file's bytes; compared by automatic reload (the bytes themselves are not kept). */
  readonly contentHash: string;
}

export function contentHashOf(data: Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** Parses and validates configuration text; throws AtrestError("invalid-argument") listing every issue. */
export function parseEncryptionConfiguration(
  data: string | Uint8Array,
  options: LoadOptions = {},
): LoadedEncryptionConfiguration {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
  const source = options.source ?? "<input>";
  const contentHash = contentHashOf(bytes);
  if (bytes.length === 0) {
    throw invalid(source, [plainIssue("", `encryption provider configuration file "${source}" is empty`)]);
  }

  const doc = parseDocument(bytes.toString("utf8"), {
    uniqueKeys: true,
    prettyErrors: true,
    logLevel: "error",
  });
  if (doc.errors.length > 0) {
    throw invalid(
      source,
      doc.errors.map((e) => {
        // The YAML library appends the offending source lines, which may hold a key: keep only the rule.
        const rule = yamlErrorRule(e.message.split(" at line ")[0] ?? e.code);
        const line = e.linePos?.[0]?.line;
        return plainIssue(
          "",
          `error converting YAML to JSON: yaml: ${line === undefined ? "" : `line ${line}: `}${rule}`,
        );
      }),
    );
  }
  let input: unknown;
  try {
    // An alias without its anchor (`*x`) or nesting past the library's stack is reported by toJS,
    // as a plain Error: found by the fuzzing campaign (test/fuzz).
    input = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const message = err instanceof RangeError ? "exceeded max depth" : (err as Error).message.split("\n")[0];
    throw invalid(source, [plainIssue("", `error converting YAML to JSON: yaml: ${message ?? ""}`)]);
  }
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw invalid(source, [
      plainIssue("", "error decoding encryption provider configuration: expected a YAML or JSON object"),
    ]);
  }

  const shape = decodeShape(input);
  const semantic =
    shape.value === undefined ? { issues: [] } : validateEncryptionConfiguration(shape.value, options);
  const issues = [...shape.issues, ...semantic.issues];
  if (issues.length > 0 || !("config" in semantic) || semantic.config === undefined)
    throw invalid(source, issues);
  return { config: semantic.config, contentHash };
}

/** Reads and validates the file at `path`. */
export async function loadEncryptionConfigurationFile(
  path: string,
  options: Omit<LoadOptions, "source"> = {},
): Promise<LoadedEncryptionConfiguration> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === "ENOENT" ? "not-found" : "invalid-argument";
    throw new AtrestError(
      code,
      `error reading encryption provider configuration file "${path}": ${(err as Error).message}`,
      {
        cause: err,
        details: { file: path },
      },
    );
  }
  return parseEncryptionConfiguration(data, { ...options, source: path });
}

function invalid(source: string, issues: readonly ConfigIssue[]): AtrestError {
  return new AtrestError(
    "invalid-argument",
    `invalid encryption provider configuration "${source}": ${aggregateMessage(issues)}`,
    {
      details: { file: source, issues: issues.map((i) => ({ path: i.path, message: i.message })) },
    },
  );
}

/** The issues an AtrestError from this module carries (empty for other errors). */
export function configIssuesOf(err: unknown): readonly ConfigIssue[] {
  if (!(err instanceof AtrestError)) return [];
  const issues = err.details["issues"];
  return Array.isArray(issues) ? (issues as ConfigIssue[]) : [];
}
