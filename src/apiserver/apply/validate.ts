import { isPlainObject } from "../../kube-object/types.js";
import { listItemElement } from "./list-items.js";
import { comparePathElements, pathElementText, type PathElement } from "./path-element.js";
import { resolve, type TypeRef } from "./type-schema.js";

/**
 * What structured-merge-diff finds wrong when it turns an applied configuration into a typed value:
 * fields the schema does not declare, values of the wrong type, list items without their keys,
 * duplicated keys. Each problem is `<path>: <message>` as kube prints it.
 */
export function validateTyped(value: unknown, type: TypeRef): string[] {
  const errs: string[] = [];
  walk(value, type, "", errs);
  return errs;
}

function show(v: unknown): string {
  return `&value.valueUnstructured{Value:${JSON.stringify(v)}}`;
}

function at(path: string, message: string): string {
  return path === "" ? message : `${path}: ${message}`;
}

function walk(value: unknown, type: TypeRef, path: string, errs: string[]): void {
  if (value === null || value === undefined) return;
  const atom = resolve(type, value);
  switch (atom.kind) {
    case "scalar": {
      const ok =
        atom.scalar === "string"
          ? typeof value === "string"
          : atom.scalar === "numeric"
            ? typeof value === "number"
            : atom.scalar === "boolean"
              ? typeof value === "boolean"
              : ["string", "number", "boolean"].includes(typeof value);
      if (!ok)
        errs.push(
          at(
            path,
            atom.scalar === "numeric"
              ? `expected numeric (int or float), got ${Array.isArray(value) ? "[]interface {}" : typeof value === "string" ? "string" : "map[string]interface {}"}`
              : atom.scalar === "untyped"
                ? `expected any scalar, got ${show(value)}`
                : `expected ${atom.scalar}, got ${show(value)}`,
          ),
        );
      return;
    }
    case "list": {
      if (!Array.isArray(value)) {
        errs.push(at(path, `expected list, got ${show(value)}`));
        return;
      }
      const seen: PathElement[] = [];
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        let text = `[${i}]`;
        if (!atom.atomic) {
          const pe = listItemElement(atom, item);
          if (typeof pe === "string") {
            errs.push(at(path, `element ${i}: ${pe}`));
            return;
          }
          if (seen.some((s) => comparePathElements(s, pe) === 0))
            errs.push(at(path, `duplicate entries for key ${pathElementText(pe)}`));
          seen.push(pe);
          text = pathElementText(pe);
        }
        walk(item, atom.element, path + text, errs);
      }
      return;
    }
    case "map": {
      if (!isPlainObject(value)) {
        errs.push(at(path, `expected map, got ${show(value)}`));
        return;
      }
      for (const [key, v] of Object.entries(value)) {
        const childType = atom.fields.get(key) ?? atom.element;
        if (childType === undefined) {
          errs.push(`${path}.${key}: field not declared in schema`);
          return;
        }
        walk(v, childType, `${path}.${key}`, errs);
      }
      return;
    }
    case "deduced":
      return;
  }
}
