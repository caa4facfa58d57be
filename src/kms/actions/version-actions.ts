import { optionalParam, parseBool, parsePage, parseRotationInterval, requireParam } from "../key-params.js";
import type { ActionSpec } from "./action-spec.js";
import { keyAction, keyChangeAction, ok, pagedBody } from "./define-action.js";
import { versionBody } from "./key-bodies.js";

/** Versions and rotation: create a version, list and describe versions, the automatic rotation policy. */

export const VERSION_ACTIONS = {
  CreateKeyVersion: keyAction({
    run: async (_, keyId, ctx) => {
      const res = await ctx.keys.createKeyVersion(keyId);
      if (res === undefined) throw new Error("rotation did not happen");
      return ok({ KeyVersion: versionBody(res.version) }, res.key.key_id, res.version.key_version_id);
    },
  }),
  ListKeyVersions: keyAction({
    readOnly: true,
    parse: parsePage,
    run: async (page, keyId, ctx) => {
      const { rows, total } = await ctx.keys.listVersions(keyId, page);
      return ok(pagedBody("KeyVersions", "KeyVersion", rows.map(versionBody), total, page), keyId);
    },
  }),
  DescribeKeyVersion: keyAction({
    readOnly: true,
    parse: (p) => requireParam(p, "KeyVersionId"),
    run: async (keyVersionId, keyId, ctx) => {
      const v = await ctx.keys.getVersion(keyId, keyVersionId);
      return ok({ KeyVersion: versionBody(v) }, v.key_id, v.key_version_id);
    },
  }),
  UpdateRotationPolicy: keyChangeAction((p) => {
    requireParam(p, "EnableAutomaticRotation");
    const interval = optionalParam(p, "RotationInterval");
    return {
      op: "UpdateRotationPolicy",
      enabled: parseBool(p, "EnableAutomaticRotation", false),
      intervalS: interval === undefined ? undefined : parseRotationInterval(interval),
    };
  }),
} satisfies Record<string, ActionSpec>;
