import { parseTagKeys, parseTags } from "../key-params.js";
import type { ActionSpec } from "./action-spec.js";
import { keyAction, ok } from "./define-action.js";

/** Tags of a key: set, remove, list. */

export const TAG_ACTIONS = {
  TagResource: keyAction({
    parse: parseTags,
    run: async (tags, keyId, ctx) => {
      await ctx.keys.tagResource(keyId, tags);
      return ok({}, keyId);
    },
  }),
  UntagResource: keyAction({
    parse: parseTagKeys,
    run: async (tagKeys, keyId, ctx) => {
      await ctx.keys.untagResource(keyId, tagKeys);
      return ok({}, keyId);
    },
  }),
  ListResourceTags: keyAction({
    readOnly: true,
    run: async (_, keyId, ctx) => {
      const tags = await ctx.keys.listTags(keyId);
      return ok(
        { Tags: { Tag: tags.map((t) => ({ KeyId: keyId, TagKey: t.tag_key, TagValue: t.tag_value })) } },
        keyId,
      );
    },
  }),
} satisfies Record<string, ActionSpec>;
