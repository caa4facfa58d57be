import { isoSecondsUtc } from "../events/trail-event.js";
import { iamError } from "../iam-error.js";
import type { PolicyRow, PrincipalRow } from "../identity-store.js";
import type { PrincipalType } from "../store/schema.js";
import type { ApiAction, ApiContext } from "./action.js";
import { boolParam, intParam, optionalParam, requireParam, type Params } from "./params.js";

/**
 * RAM 2015-05-01: users, access keys, login profiles (console passwords), roles with trust policies,
 * custom policies and their attachments — the calls the console and `atrest iam` make, shaped as
 * @alicloud/ram20150501 reads them. Every action is `ram:<Action>` on the entity's ARN.
 */
const arn = (ctx: ApiContext, kind: "user" | "role" | "policy", name: string) =>
  `acs:ram::${ctx.accountId}:${kind}/${name}`;

const on =
  (kind: "user" | "role" | "policy", param: string) => (action: string) => (p: Params, ctx: ApiContext) => ({
    action: `ram:${action}`,
    resource: arn(ctx, kind, requireParam(p, param)),
  });
const onUser = on("user", "UserName");
const onRole = on("role", "RoleName");
const onPolicy = on("policy", "PolicyName");
const onAny = (action: string) => (_p: Params, ctx: ApiContext) => ({
  action: `ram:${action}`,
  resource: `acs:ram::${ctx.accountId}:*`,
});

function userBody(u: PrincipalRow) {
  return {
    UserId: u.principal_id,
    UserName: u.principal_name,
    DisplayName: u.display_name,
    Comments: u.description,
    CreateDate: isoSecondsUtc(Number(u.created_at)),
    UpdateDate: isoSecondsUtc(Number(u.created_at)),
  };
}

function roleBody(r: PrincipalRow, ctx: ApiContext) {
  return {
    RoleId: r.principal_id,
    RoleName: r.principal_name,
    Arn: arn(ctx, "role", r.principal_name),
    Description: r.description,
    AssumeRolePolicyDocument: r.trust_policy ?? "",
    MaxSessionDuration: Number(r.max_session_duration_s ?? 3600),
    CreateDate: isoSecondsUtc(Number(r.created_at)),
    UpdateDate: isoSecondsUtc(Number(r.created_at)),
  };
}

function policyBody(p: PolicyRow, attachedAt?: number) {
  return {
    PolicyName: p.name,
    PolicyType: p.builtin ? "System" : "Custom",
    Description: "",
    DefaultVersion: "v1",
    CreateDate: isoSecondsUtc(p.createdAt),
    ...(attachedAt === undefined ? {} : { AttachDate: isoSecondsUtc(attachedAt) }),
  };
}

/** RAM's PolicyType parameter: System or Custom, and it must match the policy named. */
async function typedPolicy(p: Params, ctx: ApiContext): Promise<PolicyRow> {
  const policy = await ctx.identity.getPolicy(requireParam(p, "PolicyName"));
  const type = requireParam(p, "PolicyType");
  if (type !== "System" && type !== "Custom")
    throw iamError("InvalidParameter", "PolicyType: System or Custom");
  if ((type === "System") !== policy.builtin)
    throw iamError("EntityNotExist.Policy", `the ${type} policy ${policy.name} does not exist`);
  return policy;
}

const attach =
  (type: PrincipalType, param: "UserName" | "RoleName"): ApiAction["run"] =>
  async (p, ctx) => {
    const policy = await typedPolicy(p, ctx);
    const name = requireParam(p, param);
    await ctx.identity.attachPolicy(policy.name, name, type === "user" ? ["user", "service"] : type);
    return { body: {}, resourceName: name };
  };
const detach =
  (param: "UserName" | "RoleName"): ApiAction["run"] =>
  async (p, ctx) => {
    const policy = await typedPolicy(p, ctx);
    await ctx.identity.detachPolicy(policy.name, requireParam(p, param));
    return { body: {}, resourceName: requireParam(p, param) };
  };
const listFor =
  (type: PrincipalType | PrincipalType[], param: "UserName" | "RoleName"): ApiAction["run"] =>
  async (p, ctx) => {
    const name = requireParam(p, param);
    await ctx.identity.getPrincipal(name, type);
    const rows = await ctx.identity.listAttachedPolicies(name);
    return { body: { Policies: { Policy: rows.map((r) => policyBody(r, r.attachedAt)) } } };
  };

function loginProfileBody(u: PrincipalRow) {
  return {
    LoginProfile: {
      UserName: u.principal_name,
      PasswordResetRequired: Number(u.password_reset_required) === 1,
      MFABindRequired: false,
      CreateDate: isoSecondsUtc(Number(u.created_at)),
    },
  };
}

export const RAM_ACTIONS: Readonly<Record<string, ApiAction>> = {
  CreateUser: {
    permission: onUser("CreateUser"),
    async run(p, ctx) {
      const u = await ctx.identity.createPrincipal(requireParam(p, "UserName"), "user", {
        displayName: optionalParam(p, "DisplayName") ?? requireParam(p, "UserName"),
        description: optionalParam(p, "Comments") ?? "",
      });
      return { body: { User: userBody(u) }, resourceName: u.principal_name, resourceType: "ACS::RAM::User" };
    },
  },
  GetUser: {
    readOnly: true,
    permission: onUser("GetUser"),
    async run(p, ctx) {
      return {
        body: {
          User: userBody(await ctx.identity.getPrincipal(requireParam(p, "UserName"), ["user", "service"])),
        },
      };
    },
  },
  ListUsers: {
    readOnly: true,
    permission: onAny("ListUsers"),
    async run(_p, ctx) {
      const users = await ctx.identity.listPrincipals("user");
      return { body: { IsTruncated: false, Users: { User: users.map(userBody) } } };
    },
  },
  DeleteUser: {
    permission: onUser("DeleteUser"),
    async run(p, ctx) {
      const name = requireParam(p, "UserName");
      if (name === ctx.caller.principal) throw iamError("InvalidParameter", "a user cannot delete itself");
      await ctx.identity.deletePrincipal(name, { cascade: false, type: "user" });
      return { body: {}, resourceName: name, resourceType: "ACS::RAM::User" };
    },
  },
  CreateAccessKey: {
    permission: onUser("CreateAccessKey"),
    async run(p, ctx) {
      const name = requireParam(p, "UserName");
      const ak = await ctx.identity.createAccessKey(name);
      return {
        body: {
          AccessKey: {
            AccessKeyId: ak.accessKeyId,
            AccessKeySecret: ak.accessKeySecret,
            Status: "Active",
            CreateDate: isoSecondsUtc(ak.createdAt),
          },
        },
        resourceName: name,
      };
    },
  },
  ListAccessKeys: {
    readOnly: true,
    permission: onUser("ListAccessKeys"),
    async run(p, ctx) {
      const rows = await ctx.identity.listAccessKeys(requireParam(p, "UserName"));
      return {
        body: {
          AccessKeys: {
            AccessKey: rows.map((r) => ({
              AccessKeyId: r.access_key_id,
              Status: "Active",
              CreateDate: isoSecondsUtc(Number(r.created_at)),
            })),
          },
        },
      };
    },
  },
  DeleteAccessKey: {
    permission: onUser("DeleteAccessKey"),
    async run(p, ctx) {
      const id = requireParam(p, "UserAccessKeyId");
      if (id === ctx.caller.accessKeyId)
        throw iamError(
          "InvalidParameter",
          "UserAccessKeyId: a request cannot delete the access key it is signed with",
        );
      await ctx.identity.deleteAccessKey(id, requireParam(p, "UserName"));
      return { body: {}, resourceName: requireParam(p, "UserName") };
    },
  },
  CreateLoginProfile: {
    permission: onUser("CreateLoginProfile"),
    async run(p, ctx) {
      const name = requireParam(p, "UserName");
      await ctx.identity.setPassword(name, requireParam(p, "Password"), {
        create: true,
        resetRequired: boolParam(p, "PasswordResetRequired") ?? false,
      });
      return { body: loginProfileBody(await ctx.identity.getPrincipal(name, "user")), resourceName: name };
    },
  },
  UpdateLoginProfile: {
    permission: onUser("UpdateLoginProfile"),
    async run(p, ctx) {
      const name = requireParam(p, "UserName");
      const password = optionalParam(p, "Password");
      if (password !== undefined)
        await ctx.identity.setPassword(name, password, {
          create: false,
          resetRequired: boolParam(p, "PasswordResetRequired") ?? false,
        });
      return { body: {}, resourceName: name };
    },
  },
  GetLoginProfile: {
    readOnly: true,
    permission: onUser("GetLoginProfile"),
    async run(p, ctx) {
      const u = await ctx.identity.getPrincipal(requireParam(p, "UserName"), "user");
      if (u.password_hash === null)
        throw iamError("EntityNotExist.User.LoginProfile", `${u.principal_name} has no login profile`);
      return { body: loginProfileBody(u) };
    },
  },
  DeleteLoginProfile: {
    permission: onUser("DeleteLoginProfile"),
    async run(p, ctx) {
      await ctx.identity.deletePassword(requireParam(p, "UserName"));
      return { body: {}, resourceName: requireParam(p, "UserName") };
    },
  },
  CreateRole: {
    permission: onRole("CreateRole"),
    async run(p, ctx) {
      const max = intParam(p, "MaxSessionDuration", { min: 3600, max: 43_200 });
      const r = await ctx.identity.createPrincipal(requireParam(p, "RoleName"), "role", {
        trustPolicy: requireParam(p, "AssumeRolePolicyDocument"),
        description: optionalParam(p, "Description") ?? "",
        ...(max === undefined ? {} : { maxSessionDurationS: max }),
      });
      return {
        body: { Role: roleBody(r, ctx) },
        resourceName: r.principal_name,
        resourceType: "ACS::RAM::Role",
      };
    },
  },
  GetRole: {
    readOnly: true,
    permission: onRole("GetRole"),
    async run(p, ctx) {
      const r = await ctx.identity.findRole(requireParam(p, "RoleName"));
      if (r === undefined)
        throw iamError("EntityNotExist.Role", `The role ${requireParam(p, "RoleName")} does not exist.`);
      return { body: { Role: roleBody(r, ctx) } };
    },
  },
  ListRoles: {
    readOnly: true,
    permission: onAny("ListRoles"),
    async run(_p, ctx) {
      const roles = await ctx.identity.listPrincipals("role");
      return { body: { IsTruncated: false, Roles: { Role: roles.map((r) => roleBody(r, ctx)) } } };
    },
  },
  UpdateRole: {
    permission: onRole("UpdateRole"),
    async run(p, ctx) {
      const max = intParam(p, "NewMaxSessionDuration", { min: 3600, max: 43_200 });
      const doc = optionalParam(p, "NewAssumeRolePolicyDocument");
      const r = await ctx.identity.updateRole(requireParam(p, "RoleName"), {
        ...(doc === undefined ? {} : { trustPolicy: doc }),
        ...(max === undefined ? {} : { maxSessionDurationS: max }),
      });
      return {
        body: { Role: roleBody(r, ctx) },
        resourceName: r.principal_name,
        resourceType: "ACS::RAM::Role",
      };
    },
  },
  DeleteRole: {
    permission: onRole("DeleteRole"),
    async run(p, ctx) {
      const name = requireParam(p, "RoleName");
      await ctx.identity.deletePrincipal(name, { cascade: false, type: "role" });
      return { body: {}, resourceName: name, resourceType: "ACS::RAM::Role" };
    },
  },
  CreatePolicy: {
    permission: onPolicy("CreatePolicy"),
    async run(p, ctx) {
      const row = await ctx.identity.createPolicy(
        requireParam(p, "PolicyName"),
        requireParam(p, "PolicyDocument"),
      );
      return { body: { Policy: policyBody(row) }, resourceName: row.name, resourceType: "ACS::RAM::Policy" };
    },
  },
  GetPolicy: {
    readOnly: true,
    permission: onPolicy("GetPolicy"),
    async run(p, ctx) {
      const row = await typedPolicy(p, ctx);
      return {
        body: {
          Policy: policyBody(row),
          DefaultPolicyVersion: {
            VersionId: "v1",
            IsDefaultVersion: true,
            PolicyDocument: row.document,
            CreateDate: isoSecondsUtc(row.createdAt),
          },
        },
      };
    },
  },
  ListPolicies: {
    readOnly: true,
    permission: onAny("ListPolicies"),
    async run(p, ctx) {
      const type = optionalParam(p, "PolicyType");
      const rows = (await ctx.identity.listPolicies()).filter(
        (r) => type === undefined || (type === "System") === r.builtin,
      );
      return { body: { IsTruncated: false, Policies: { Policy: rows.map((r) => policyBody(r)) } } };
    },
  },
  DeletePolicy: {
    permission: onPolicy("DeletePolicy"),
    async run(p, ctx) {
      await ctx.identity.deletePolicy(requireParam(p, "PolicyName"));
      return { body: {}, resourceName: requireParam(p, "PolicyName"), resourceType: "ACS::RAM::Policy" };
    },
  },
  AttachPolicyToUser: { permission: onUser("AttachPolicyToUser"), run: attach("user", "UserName") },
  DetachPolicyFromUser: { permission: onUser("DetachPolicyFromUser"), run: detach("UserName") },
  AttachPolicyToRole: { permission: onRole("AttachPolicyToRole"), run: attach("role", "RoleName") },
  DetachPolicyFromRole: { permission: onRole("DetachPolicyFromRole"), run: detach("RoleName") },
  ListPoliciesForUser: {
    readOnly: true,
    permission: onUser("ListPoliciesForUser"),
    run: listFor(["user", "service"], "UserName"),
  },
  ListPoliciesForRole: {
    readOnly: true,
    permission: onRole("ListPoliciesForRole"),
    run: listFor("role", "RoleName"),
  },
};
