import { callerArn } from "../caller.js";
import { assumeRole, STS_MIN_DURATION_SECONDS } from "../sts/assume-role.js";
import type { ApiAction } from "./action.js";
import { optionalParam, requireParam } from "./params.js";

/** STS 2015-04-01: AssumeRole and GetCallerIdentity, shaped as @alicloud/sts20150401 reads them. */
export const STS_ACTIONS: Readonly<Record<string, ApiAction>> = {
  AssumeRole: {
    async run(p, ctx) {
      const duration = optionalParam(p, "DurationSeconds");
      const policy = optionalParam(p, "Policy");
      const externalId = optionalParam(p, "ExternalId");
      const sourceIdentity = optionalParam(p, "SourceIdentity");
      const r = await assumeRole(
        ctx.identity,
        ctx.caller,
        {
          roleArn: requireParam(p, "RoleArn"),
          roleSessionName: requireParam(p, "RoleSessionName"),
          ...(duration === undefined
            ? {}
            : { durationSeconds: /^\d{1,9}$/.test(duration) ? Number(duration) : NaN }),
          ...(policy === undefined ? {} : { policy }),
          ...(externalId === undefined ? {} : { externalId }),
          ...(sourceIdentity === undefined ? {} : { sourceIdentity }),
        },
        {
          now: ctx.clock.now(),
          minDurationSeconds: ctx.sts.minDurationSecondsForTestsOnly ?? STS_MIN_DURATION_SECONDS,
        },
      );
      return {
        body: r.body,
        resourceName: `acs:ram::${ctx.accountId}:role/${r.role.principal_name}`,
        resourceType: "ACS::RAM::Role",
      };
    },
  },
  GetCallerIdentity: {
    readOnly: true,
    run(_p, ctx) {
      const c = ctx.caller;
      return Promise.resolve({
        body: {
          AccountId: ctx.accountId,
          UserId: c.type === "assumed-role" ? c.roleId : c.principalId,
          PrincipalId: c.principalId,
          Arn: callerArn(c, ctx.accountId),
          IdentityType: c.type === "assumed-role" ? "AssumedRoleUser" : "RAMUser",
          ...(c.type === "assumed-role" ? { RoleId: c.roleId } : {}),
        },
      });
    },
  },
};
