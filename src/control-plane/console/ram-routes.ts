import { z } from "zod";
import { apiRoute, parseBody, type ApiScope } from "./api-context.js";
import { consoleRefusal } from "./console-error.js";

const NAME = /^[A-Za-z0-9._@-]{1,128}$/;

function nameParam(params: Readonly<Record<string, string>>, key: string): string {
  const v = params[key] ?? "";
  if (!NAME.test(v)) throw consoleRefusal("invalid-argument", "InvalidParameter", `${key}: not a valid name`);
  return v;
}

function items(value: unknown, outer: string, inner: string): unknown[] {
  const o = (value as Record<string, unknown>)[outer];
  const v = o !== null && typeof o === "object" ? (o as Record<string, unknown>)[inner] : undefined;
  return Array.isArray(v) ? v : [];
}

const attachBody = z.strictObject({
  policyName: z.string().regex(NAME),
  policyType: z.enum(["Custom", "System"]),
});
const createPolicyBody = z.strictObject({
  policyName: z.string().regex(NAME),
  policyDocument: z.string().min(1).max(6144),
  description: z.string().max(1024).optional(),
});

/** RAM: users, roles, policies, and attaching or detaching a policy on a user. */
export function registerRamRoutes(scope: ApiScope): void {
  apiRoute(scope, "GET", "/ram/users", async ({ upstream }) => ({
    users: items(await upstream.call("ram", "ListUsers"), "Users", "User"),
  }));
  apiRoute(scope, "GET", "/ram/roles", async ({ upstream }) => ({
    roles: items(await upstream.call("ram", "ListRoles"), "Roles", "Role"),
  }));
  apiRoute(scope, "GET", "/ram/policies", async ({ upstream }) => ({
    policies: items(await upstream.call("ram", "ListPolicies"), "Policies", "Policy"),
  }));
  apiRoute(scope, "POST", "/ram/policies", async ({ upstream, body }) => {
    const b = parseBody(createPolicyBody, body);
    await upstream.call("ram", "CreatePolicy", {
      PolicyName: b.policyName,
      PolicyDocument: b.policyDocument,
      Description: b.description,
    });
    return {};
  });
  apiRoute(scope, "GET", "/ram/users/:userName/policies", async ({ upstream, params }) => ({
    policies: items(
      await upstream.call("ram", "ListPoliciesForUser", { UserName: nameParam(params, "userName") }),
      "Policies",
      "Policy",
    ),
  }));
  apiRoute(scope, "GET", "/ram/roles/:roleName/policies", async ({ upstream, params }) => ({
    policies: items(
      await upstream.call("ram", "ListPoliciesForRole", { RoleName: nameParam(params, "roleName") }),
      "Policies",
      "Policy",
    ),
  }));
  apiRoute(scope, "POST", "/ram/users/:userName/policies", async ({ upstream, params, body }) => {
    const b = parseBody(attachBody, body);
    await upstream.call("ram", "AttachPolicyToUser", {
      UserName: nameParam(params, "userName"),
      PolicyName: b.policyName,
      PolicyType: b.policyType,
    });
    return {};
  });
  apiRoute(scope, "POST", "/ram/users/:userName/policies/detach", async ({ upstream, params, body }) => {
    const b = parseBody(attachBody, body);
    await upstream.call("ram", "DetachPolicyFromUser", {
      UserName: nameParam(params, "userName"),
      PolicyName: b.policyName,
      PolicyType: b.policyType,
    });
    return {};
  });
}
