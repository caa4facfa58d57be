import { kmsError } from "../kms-error.js";
import { optionalParam, parseBool, parseIntParam, requireParam } from "../key-params.js";
import { MAX_PENDING_WINDOW_DAYS, MIN_PENDING_WINDOW_DAYS } from "../keys/index.js";
import type { ActionSpec } from "./action-spec.js";
import { changeKeyAndAnswer, keyChangeAction, keyResource, parseForce } from "./define-action.js";

/** Deletion: schedule, cancel, deletion protection. */

const SetDeletionProtection: ActionSpec = {
  async prepare(p, ctx) {
    requireParam(p, "EnableDeletionProtection");
    const enabled = parseBool(p, "EnableDeletionProtection", false);
    const description = optionalParam(p, "DeletionProtectionDescription") ?? "";
    const force = parseForce(p);
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
      run: () =>
        changeKeyAndAnswer(ctx, key.keyId, { op: "SetDeletionProtection", enabled, description, force }),
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
    force: parseForce(p),
  })),
  CancelKeyDeletion: keyChangeAction(() => ({ op: "CancelKeyDeletion" })),
  SetDeletionProtection,
} satisfies Record<string, ActionSpec>;
