import { isPlainObject } from "../../kube-object/types.js";
import { sortedKey, type PathElement } from "./path-element.js";
import type { Atom } from "./type-schema.js";

/**
 * The path element of an item of an associative list: its key fields for a keyed list (`k:{…}`), its
 * value for a set (`v:…`). A string result is structured-merge-diff's complaint about the item.
 */
export function listItemElement(list: Atom & { kind: "list" }, item: unknown): PathElement | string {
  if (list.keys.length > 0) {
    if (item === null) return "associative list with keys may not have a null element";
    if (!isPlainObject(item)) return "associative list with keys may not have non-map elements";
    const key: [string, unknown][] = [];
    for (const name of list.keys) if (item[name] !== undefined) key.push([name, item[name]]);
    if (key.length === 0)
      return `associative list with keys has an element that omits all key fields ${JSON.stringify(list.keys)} (and doesn't have default values for any key fields)`;
    return { key: sortedKey(key) };
  }
  if (isPlainObject(item)) return "associative list without keys has an element that's a map type";
  if (Array.isArray(item)) return "not supported: associative list with lists as elements";
  if (item === null) return "associative list without keys has an element that's an explicit null";
  return { value: item };
}
