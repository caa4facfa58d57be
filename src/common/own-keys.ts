/**
 * Objects holding user-chosen keys (Secret data, labels, unknown fields, patch members): no key is
 * special. `obj[key] = v` with key `__proto__` replaces the prototype instead of storing the key, and
 * `obj[key]` with key `toString` finds Object.prototype's function; these two read and write own
 * properties only.
 */

/** The own property `key` of `obj`, or undefined (never an inherited one). */
export function getOwn(obj: object, key: string): unknown {
  return Object.hasOwn(obj, key) ? (obj as Record<string, unknown>)[key] : undefined;
}

/** Defines `key` as an own, enumerable data property (what JSON.parse does), `__proto__` included. */
export function setOwn(obj: object, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}
