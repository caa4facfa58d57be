import { badRequest } from "./status.js";

/** Label selectors (`=`, `==`, `!=`, `in`, `notin`, exists, `!`key) and field selectors, as kube parses them. */

export type LabelRequirement =
  | { readonly key: string; readonly op: "in" | "notin"; readonly values: readonly string[] }
  | { readonly key: string; readonly op: "exists" | "!exists" };

export type Selector = (labels: Readonly<Record<string, string>>) => boolean;

function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    else if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

const KEY = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string, raw: string): string {
  if (!KEY.test(key)) throw badRequest(`unable to parse requirement: invalid label key "${key}" in "${raw}"`);
  return key;
}

function checkValue(value: string, raw: string): string {
  if (!VALUE.test(value))
    throw badRequest(`unable to parse requirement: invalid label value "${value}" in "${raw}"`);
  return value;
}

export function parseLabelSelector(selector: string): LabelRequirement[] {
  const reqs: LabelRequirement[] = [];
  for (const part of splitTopLevel(selector)) {
    const setMatch = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
    if (setMatch) {
      const key = checkKey(setMatch[1] ?? "", part);
      const values = (setMatch[3] ?? "").split(",").map((v) => checkValue(v.trim(), part));
      reqs.push({ key, op: setMatch[2] === "in" ? "in" : "notin", values });
      continue;
    }
    const opMatch = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (opMatch) {
      const key = checkKey(opMatch[1] ?? "", part);
      const value = checkValue(opMatch[3] ?? "", part);
      reqs.push({ key, op: opMatch[2] === "!=" ? "notin" : "in", values: [value] });
      continue;
    }
    if (part.startsWith("!")) {
      reqs.push({ key: checkKey(part.slice(1).trim(), part), op: "!exists" });
      continue;
    }
    reqs.push({ key: checkKey(part, part), op: "exists" });
  }
  return reqs;
}

export function labelSelector(selector: string | undefined): Selector | undefined {
  if (selector === undefined || selector.trim() === "") return undefined;
  const reqs = parseLabelSelector(selector);
  return (labels) =>
    reqs.every((r) => {
      const has = Object.prototype.hasOwnProperty.call(labels, r.key);
      switch (r.op) {
        case "exists":
          return has;
        case "!exists":
          return !has;
        case "in":
          return has && r.values.includes(labels[r.key] ?? "");
        case "notin":
          return !has || !r.values.includes(labels[r.key] ?? "");
      }
    });
}

export interface FieldRequirement {
  readonly field: string;
  readonly op: "=" | "!=";
  readonly value: string;
}

/** Parses a field selector; `supported` lists the fields this resource can select on. */
export function parseFieldSelector(
  selector: string | undefined,
  supported: readonly string[],
): FieldRequirement[] {
  if (selector === undefined || selector.trim() === "") return [];
  const reqs: FieldRequirement[] = [];
  for (const part of selector
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "")) {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${part}'`);
    const field = (m[1] ?? "").trim();
    if (!supported.includes(field)) {
      throw badRequest(`field label not supported: ${field}`);
    }
    reqs.push({ field, op: m[2] === "!=" ? "!=" : "=", value: (m[3] ?? "").trim() });
  }
  return reqs;
}

export function fieldsMatch(
  reqs: readonly FieldRequirement[],
  fields: Readonly<Record<string, string>>,
): boolean {
  return reqs.every((r) => ((fields[r.field] ?? "") === r.value) === (r.op === "="));
}
