/**
 * Kubernetes' `schema.GroupResource` as the encryption configuration spells it: `secrets` (core group),
 * `deployments.apps`, `*.apps`, `*.` (every core resource), `*.*` (everything).
 */

export interface GroupResource {
  readonly group: string;
  readonly resource: string;
}

export const ANY_GROUP_ANY_RESOURCE: GroupResource = Object.freeze({ group: "*", resource: "*" });

/** `schema.ParseGroupResource`: everything after the first '.' is the group. */
export function parseGroupResource(text: string): GroupResource {
  const dot = text.indexOf(".");
  if (dot < 0) return { group: "", resource: text };
  return { group: text.slice(dot + 1), resource: text.slice(0, dot) };
}

/** `schema.GroupResource.String`. */
export function groupResourceString(gr: GroupResource): string {
  return gr.group === "" ? gr.resource : `${gr.resource}.${gr.group}`;
}

/** How kube-apiserver writes a rule back in messages (`grYAMLString`): the core wildcard is `*.`. */
export function groupResourceYamlString(gr: GroupResource): string {
  if (gr.group === "" && gr.resource === "*") return "*.";
  return groupResourceString(gr);
}

/** A stable map key for a GroupResource. */
export function groupResourceKey(gr: GroupResource): string {
  return `${gr.resource}\u0000${gr.group}`;
}

export function sameGroupResource(a: GroupResource, b: GroupResource): boolean {
  return a.group === b.group && a.resource === b.resource;
}
