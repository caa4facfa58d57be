import { kmsError } from "../kms-error.js";
import { optionalParam, parseBool, parseIntParam, requireParam } from "../key-params.js";
import { MAX_PENDING_WINDOW_DAYS, MIN_PENDING_WINDOW_DAYS } from "../keys/index.js";
import type { ActionSpec } from "./action-spec.js";
import { keyChangeAction, keyResource, ok } from "./define-action.js";

/** Deletion: schedule, cancel, deletion protection. */

const SetDeletionProtection: ActionSpec = {
  async prepare(p, ctx) {
    requireParam(p, "EnableDeletionProtection");
    const enabled = parseBool(p, "EnableDeletionProtection", false);
    const description = optionalParam(p, "DeletionProtectionDescription") ?? "";
    const arn = requireParam(p, "ProtectedResourceArn");
    const m = /^acs:kms:[^:]*:[^:]*:key\/(.+)$/.exec(arn);
    if (m === null)
      throw kmsError(
        "InvalidParameter",
        "ProtectedResourceArn: must be a key ARN acs:kms:<region>:<account>:key/<id>",
      );
    const key = await keyResource(ctx, m[1]!);
    return {
      resources: [key],
      run: async () => {
        await ctx.keys.changeKey(key.keyId, { op: "SetDeletionProtection", enabled, description });
        return ok({}, key.keyId);
      },
    };
  },
};

export const DELETION_ACTIONS = {
  ScheduleKeyDeletion: keyChangeAction((p) => ({
    op: "ScheduleKeyDeletion",
    pendingWindowInDays: parseIntParam(p, "PendingWindowInDays", {
      min: MIN_PENDING_WINDOW_DAYS,
      max: MAX_PENDING_WINDOW_DAYS,
    }),
  })),
  CancelKeyDeletion: keyChangeAction(() => ({ op: "CancelKeyDeletion" })),
  SetDeletionProtection,
} satisfies Record<string, ActionSpec>;
