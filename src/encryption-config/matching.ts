/**
 * Which rule encrypts a resource, as kube-apiserver decides (`transformerFromOverrides`): the exact
 * `<resource>.<group>` first, then `*.<group>`, then `*.*`; no match means identity (stored in the clear).
 * A resource named in several rules gets the providers of all of them, in file order.
 */
import {
  ANY_GROUP_ANY_RESOURCE,
  groupResourceKey,
  groupResourceYamlString,
  parseGroupResource,
  type GroupResource,
} from "./group-resource.js";
import type { EncryptionConfiguration } from "./types.js";

export interface RuleMatch {
  /** The pattern that matched, as kube writes it: `secrets`, `*.apps`, `*.`, `*.*`. */
  readonly pattern: string;
  /** Indexes into `config.resources`, in file order. */
  readonly ruleIndexes: readonly number[];
}

export type RuleIndex = ReadonlyMap<string, RuleMatch>;

export function indexRules(config: EncryptionConfiguration): RuleIndex {
  const index = new Map<string, { pattern: string; ruleIndexes: number[] }>();
  for (const [i, rule] of config.resources.entries()) {
    for (const text of rule.resources) {
      const gr = parseGroupResource(text);
      const key = groupResourceKey(gr);
      const entry = index.get(key) ?? { pattern: groupResourceYamlString(gr), ruleIndexes: [] };
      if (!entry.ruleIndexes.includes(i)) entry.ruleIndexes.push(i);
      index.set(key, entry);
    }
  }
  return index;
}

/** `resource` is `<resource>.<group>`, or the bare name for the core group (`secrets`). */
export function toGroupResource(resource: string | GroupResource): GroupResource {
  return typeof resource === "string" ? parseGroupResource(resource) : resource;
}

/** The matching entry, or undefined when the resource falls through to identity. */
export function matchResource<T>(
  index: ReadonlyMap<string, T>,
  resource: string | GroupResource,
): T | undefined {
  const gr = toGroupResource(resource);
  return (
    index.get(groupResourceKey(gr)) ??
    index.get(groupResourceKey({ group: gr.group, resource: "*" })) ??
    index.get(groupResourceKey(ANY_GROUP_ANY_RESOURCE))
  );
}
