import { kmsError } from "../kms-error.js";
import { isoSeconds, requireParam, type Params } from "../key-params.js";
import type { ActionSpec } from "./action-spec.js";
import { accountAction, ok } from "./define-action.js";

/**
 * atrest's extension actions (not Alibaba's): principals, their access keys, policies and attachments.
 * Each acts on an account-level resource (`principal/<name>`, `accesskey/<id>`, `policy/<name>`).
 */

const principalName = (p: Params) => requireParam(p, "PrincipalName");
const onPrincipal = (name: string) => `principal/${name}`;
const policyName = (p: Params) => requireParam(p, "PolicyName");
const onPolicy = (name: string) => `policy/${name}`;
/** A policy attached to (or detached from) a principal: both named up front. */
const attachment = (p: Params) => {
  const principal = principalName(p);
  return { policy: policyName(p), principal };
};

export const ACCESS_ACTIONS = {
  CreatePrincipal: accountAction({
    resource: onPrincipal,
    parse: principalName,
    run: async (name, ctx) => {
      await ctx.access.createPrincipal(name);
      return ok({ PrincipalName: name });
    },
  }),
  ListPrincipals: accountAction({
    readOnly: true,
    resource: () => "principal/*",
    run: async (_, ctx) => {
      const rows = await ctx.access.listPrincipals();
      const principals = rows.map((r) => ({
        PrincipalName: r.principal_name,
        CreationDate: isoSeconds(r.created_at),
      }));
      return ok({ Principals: { Principal: principals } });
    },
  }),
  DeletePrincipal: accountAction({
    resource: onPrincipal,
    parse: principalName,
    run: async (name, ctx) => {
      if (name === ctx.principal)
        throw kmsError("Rejected.UnsupportedOperation", "a principal cannot delete itself");
      await ctx.access.deletePrincipal(name);
      return ok();
    },
  }),
  CreateAccessKey: accountAction({
    resource: onPrincipal,
    parse: principalName,
    run: async (name, ctx) => {
      const ak = await ctx.access.createAccessKey(name);
      return ok({ AccessKeyId: ak.accessKeyId, AccessKeySecret: ak.accessKeySecret, PrincipalName: name });
    },
  }),
  ListAccessKeys: accountAction({
    readOnly: true,
    resource: onPrincipal,
    parse: principalName,
    run: async (name, ctx) => {
      const rows = await ctx.access.listAccessKeys(name);
      const keys = rows.map((r) => ({
        AccessKeyId: r.access_key_id,
        CreationDate: isoSeconds(r.created_at),
      }));
      return ok({ AccessKeys: { AccessKey: keys } });
    },
  }),
  DeleteAccessKey: accountAction({
    // UserAccessKeyId (as RAM names it): AccessKeyId is the caller's own credential, a common parameter.
    parse: (p) => requireParam(p, "UserAccessKeyId"),
    resource: (id) => `accesskey/${id}`,
    run: async (id, ctx) => {
      await ctx.access.deleteAccessKey(id);
      return ok();
    },
  }),
  CreatePolicy: accountAction({
    parse: (p) => {
      const document = requireParam(p, "PolicyDocument");
      return { name: policyName(p), document };
    },
    resource: ({ name }) => onPolicy(name),
    run: async ({ name, document }, ctx) => {
      await ctx.access.createPolicy(name, document);
      return ok({ PolicyName: name });
    },
  }),
  ListPolicies: accountAction({
    readOnly: true,
    resource: () => "policy/*",
    run: async (_, ctx) => {
      const rows = await ctx.access.listPolicies();
      const policies = rows.map((r) => ({
        PolicyName: r.name,
        PolicyType: r.builtin ? "System" : "Custom",
        PolicyDocument: r.document,
      }));
      return ok({ Policies: { Policy: policies } });
    },
  }),
  DeletePolicy: accountAction({
    resource: onPolicy,
    parse: policyName,
    run: async (name, ctx) => {
      await ctx.access.deletePolicy(name);
      return ok();
    },
  }),
  AttachPolicy: accountAction({
    resource: ({ policy }) => onPolicy(policy),
    parse: attachment,
    run: async ({ policy, principal }, ctx) => {
      await ctx.access.attachPolicy(policy, principal);
      return ok();
    },
  }),
  DetachPolicy: accountAction({
    resource: ({ policy }) => onPolicy(policy),
    parse: attachment,
    run: async ({ policy, principal }, ctx) => {
      await ctx.access.detachPolicy(policy, principal);
      return ok();
    },
  }),
} satisfies Record<string, ActionSpec>;
