import { ACCESS_ACTIONS } from "./access-actions.js";
import type { ActionSpec } from "./action-spec.js";
import { ALIAS_ACTIONS } from "./alias-actions.js";
import { CRYPTO_ACTIONS } from "./crypto-actions.js";
import { DELETION_ACTIONS } from "./deletion-actions.js";
import { KEY_ACTIONS } from "./key-actions.js";
import { TAG_ACTIONS } from "./tag-actions.js";
import { VERSION_ACTIONS } from "./version-actions.js";

export type {
  ActionContext,
  ActionResult,
  ActionSpec,
  PreparedAction,
  ResolvedResource,
} from "./action-spec.js";
export { keyArn } from "./define-action.js";
export { keyMetadata } from "./key-bodies.js";

/** The areas of Alibaba Cloud KMS's OpenAPI 2016-01-20 that atrest kms serves (DESIGN.md §7). */
export const ALIBABA_ACTION_AREAS = {
  keys: KEY_ACTIONS,
  deletion: DELETION_ACTIONS,
  versions: VERSION_ACTIONS,
  crypto: CRYPTO_ACTIONS,
  aliases: ALIAS_ACTIONS,
  tags: TAG_ACTIONS,
} as const;

/** atrest's own administration actions (principals, access keys, policies), not in Alibaba's API. */
export const ATREST_ACTION_AREAS = { access: ACCESS_ACTIONS } as const;

function merge(
  areas: ReadonlyArray<Readonly<Record<string, ActionSpec>>>,
): Readonly<Record<string, ActionSpec>> {
  const out: Record<string, ActionSpec> = Object.create(null) as Record<string, ActionSpec>;
  for (const area of areas) {
    for (const [name, spec] of Object.entries(area)) {
      if (Object.hasOwn(out, name)) throw new Error(`KMS action ${name} is defined in two areas`);
      out[name] = spec;
    }
  }
  return Object.freeze(out);
}

/** Every action atrest kms serves, by name (a null-prototype object: no inherited names). */
export const ACTIONS: Readonly<Record<string, ActionSpec>> = merge([
  ...Object.values(ALIBABA_ACTION_AREAS),
  ...Object.values(ATREST_ACTION_AREAS),
]);

export function actionSpec(name: string): ActionSpec | undefined {
  return Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined;
}
