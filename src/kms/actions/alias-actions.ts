import { parseAliasName, parsePage, requireParam, type Params } from "../key-params.js";
import type { ActionContext, ActionSpec } from "./action-spec.js";
import { accountAction, accountArn, keyAction, keyResource, ok, pagedBody } from "./define-action.js";

/** Aliases: create, point elsewhere, delete, list (all, or of one key). */

/** CreateAlias and UpdateAlias act on the key and on the alias: a policy must allow both. */
function aliasOnKeyAction(
  apply: (ctx: ActionContext, aliasName: string, keyId: string) => Promise<void>,
): ActionSpec {
  return {
    async prepare(p, ctx) {
      const aliasName = parseAliasName(requireParam(p, "AliasName"));
      const key = await keyResource(ctx, requireParam(p, "KeyId"));
      return {
        resources: [{ ...key, arns: [...key.arns, accountArn(ctx, aliasName)] }],
        run: async () => {
          await apply(ctx, aliasName, key.keyId);
          return ok({}, key.keyId);
        },
      };
    },
  };
}

function aliasList(ctx: ActionContext, rows: ReadonlyArray<{ alias_name: string; key_id: string }>) {
  return rows.map((a) => ({
    AliasName: a.alias_name,
    AliasArn: accountArn(ctx, a.alias_name),
    KeyId: a.key_id,
  }));
}

const DeleteAlias: ActionSpec = {
  async prepare(p: Params, ctx) {
    const aliasName = parseAliasName(requireParam(p, "AliasName"));
    // The alias and the key behind it (a policy on either allows it); unknown: the alias alone.
    const target = await keyResource(ctx, aliasName);
    return {
      resources: [target],
      run: async () => {
        await ctx.keys.deleteAlias(aliasName);
        return ok({}, target.keyId);
      },
    };
  },
};

export const ALIAS_ACTIONS = {
  CreateAlias: aliasOnKeyAction((ctx, aliasName, keyId) => ctx.keys.createAlias(aliasName, keyId)),
  UpdateAlias: aliasOnKeyAction((ctx, aliasName, keyId) => ctx.keys.updateAlias(aliasName, keyId)),
  DeleteAlias,
  ListAliases: accountAction({
    readOnly: true,
    resource: () => "alias",
    parse: parsePage,
    run: async (page, ctx) => {
      const { rows, total } = await ctx.keys.listAliases(page);
      return ok(pagedBody("Aliases", "Alias", aliasList(ctx, rows), total, page));
    },
  }),
  ListAliasesByKeyId: keyAction({
    readOnly: true,
    parse: parsePage,
    run: async (page, keyId, ctx) => {
      const { rows, total } = await ctx.keys.listAliases(page, keyId);
      return ok(pagedBody("Aliases", "Alias", aliasList(ctx, rows), total, page), keyId);
    },
  }),
} satisfies Record<string, ActionSpec>;
