import type { FieldError } from "../status.js";

/** kube's FieldManagerMaxLength. */
export const FIELD_MANAGER_MAX_BYTES = 128;

/** Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. */
function isPrint(ch: string): boolean {
  return ch === " " || /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(ch);
}

/** ValidateFieldManager: at most 128 bytes, printable characters only. */
export function fieldManagerErrors(manager: string): FieldError[] {
  const errs: FieldError[] = [];
  if (manager === "") return errs;
  if (Buffer.byteLength(manager, "utf8") > FIELD_MANAGER_MAX_BYTES)
    errs.push({
      field: "fieldManager",
      type: "FieldValueTooLong",
      detail: `may not be more than ${FIELD_MANAGER_MAX_BYTES} bytes`,
    });
  let index = 0;
  for (const ch of manager) {
    if (!isPrint(ch)) {
      const code = (ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
      errs.push({
        field: "fieldManager",
        type: "FieldValueInvalid",
        value: manager,
        detail: `invalid character U+${code} at index ${index}`,
      });
    }
    index += Buffer.byteLength(ch, "utf8");
  }
  return errs;
}

/** prefixFromUserAgent: the part before the first "/", printable characters only, at most 128 bytes. */
export function managerFromUserAgent(userAgent: string | undefined): string {
  let out = "";
  for (const ch of (userAgent ?? "").split("/")[0] ?? "") {
    if (!isPrint(ch)) continue;
    if (Buffer.byteLength(out + ch, "utf8") > FIELD_MANAGER_MAX_BYTES) break;
    out += ch;
  }
  return out;
}
