import { randomUUID, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { z } from "zod";
import {
  CS_SERVICE_ROLE,
  CS_SERVICE_ROLE_POLICY,
  CS_SERVICE_ROLE_TRUST_POLICY,
  serviceRoleArn,
} from "../../iam/index.js";
import { apiRoute, parseBody, type ApiContext, type ApiScope } from "./api-context.js";
import {
  CONSOLE_CLUSTER_ROLES,
  type ConsoleCaller,
  type ConsoleClusters,
  type ConsoleIdentityResolver,
} from "./clusters-port.js";
import { consoleRefusal } from "./console-error.js";

/** What quick authorization calls (RAM checks each on the role's ARN). */
const QUICK_AUTHORIZE_ACTIONS = ["ram:CreateRole", "ram:AttachPolicyToRole"] as const;

function upstreamCode(err: unknown): string {
  const code = (err as { details?: Record<string, unknown> }).details?.["kmsCode"];
  return typeof code === "string" ? code : "";
}

function sameJson(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}

/**
 * Whether the role exists and has its policy, asked of RAM as the user; null where RAM does not let
 * the user read it (the cs API's refusal to enable still says what is missing).
 */
async function serviceRoleState(
  upstream: ApiContext["upstream"],
): Promise<{ exists: boolean | null; authorized: boolean | null }> {
  try {
    await upstream.call("ram", "GetRole", { RoleName: CS_SERVICE_ROLE });
  } catch (err) {
    if (upstreamCode(err).startsWith("EntityNotExist")) return { exists: false, authorized: false };
    if (upstreamCode(err).startsWith("NoPermission")) return { exists: null, authorized: null };
    throw err;
  }
  try {
    const r = await upstream.call("ram", "ListPoliciesForRole", { RoleName: CS_SERVICE_ROLE });
    const policies = ((r["Policies"] as { Policy?: Array<{ PolicyName?: string }> } | undefined)?.Policy ??
      []) as Array<{ PolicyName?: string }>;
    return { exists: true, authorized: policies.some((p) => p.PolicyName === CS_SERVICE_ROLE_POLICY) };
  } catch (err) {
    if (upstreamCode(err).startsWith("NoPermission")) return { exists: true, authorized: null };
    throw err;
  }
}

const CLUSTER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const TASK_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

const encryptionBody = z.union([
  z.strictObject({ enabled: z.literal(true), kmsKeyId: z.string().min(1).max(256) }),
  z.strictObject({ enabled: z.literal(false) }),
]);
/** Create Cluster's form: name, storage (embedded SQLite or an etcd), and the key under Advanced. */
const createBody = z.strictObject({
  name: z.string().min(1).max(63),
  kmsKeyId: z.string().min(1).max(256).optional(),
  storage: z.discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("sqlite") }),
    z.strictObject({
      kind: z.literal("etcd"),
      endpoints: z
        .array(z.string().regex(/^https?:\/\/[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, "must be http(s)://host:port"))
        .min(1)
        .max(8),
    }),
  ]),
});
const grantBody = z.strictObject({
  principal: z.string().regex(/^[A-Za-z0-9._@-]{1,128}$/),
  role: z.enum(CONSOLE_CLUSTER_ROLES),
});

function idParam(params: Readonly<Record<string, string>>, key: string, re: RegExp): string {
  const v = params[key] ?? "";
  if (!re.test(v)) throw consoleRefusal("invalid-argument", "InvalidParameter", `${key}: not a valid id`);
  return v;
}

/**
 * The session's principal as the cluster service's Caller. The access key is resolved again on every
 * request, as the cs API's authentication would (a deleted key or an expired STS session stops the
 * session's cluster actions at once), and its secret must still be the one the user signed in with.
 */
async function callerOf(
  resolver: ConsoleIdentityResolver,
  ctx: ApiContext,
  req: FastifyRequest,
): Promise<ConsoleCaller> {
  const { accessKeyId, accessKeySecret, securityToken } = ctx.session.credentials;
  const resolved = await resolver.resolveAccessKey(accessKeyId, securityToken);
  const a = Buffer.from(resolved?.secret ?? "", "utf8");
  const b = Buffer.from(accessKeySecret, "utf8");
  if (resolved === undefined || a.length !== b.length || !timingSafeEqual(a, b))
    throw consoleRefusal(
      "unauthenticated",
      "SessionExpired",
      "the access key this session signed in with is no longer valid: sign in again",
    );
  resolver.assertSessionLive(resolved.caller);
  const ua = req.headers["user-agent"];
  return {
    identity: resolved.caller,
    sourceIp: req.ip,
    requestId: randomUUID().toUpperCase(),
    via: "console",
    ...(typeof ua === "string" ? { userAgent: ua.slice(0, 512) } : {}),
  };
}

/**
 * Clusters through the control plane's service (the same methods and Caller as the cs API); the
 * service role and its quick authorization through RAM as the user.
 */
export function registerClusterRoutes(
  scope: ApiScope,
  clusters: ConsoleClusters,
  resolver: ConsoleIdentityResolver,
): void {
  const route = (
    method: "GET" | "POST" | "DELETE",
    path: string,
    handler: (ctx: ApiContext, caller: ConsoleCaller) => Promise<unknown>,
  ) => apiRoute(scope, method, path, async (ctx, req) => handler(ctx, await callerOf(resolver, ctx, req)));

  route("GET", "/clusters", async (_ctx, caller) =>
    clusters.listClusters(caller, { pageSize: 100, pageNumber: 1 }),
  );
  route("POST", "/clusters", async ({ body }, caller) => {
    const b = parseBody(createBody, body);
    const cluster = await clusters.createCluster(caller, {
      name: b.name,
      regionId: scope.endpoints.regionId,
      ...(b.kmsKeyId === undefined ? {} : { kmsKeyId: b.kmsKeyId }),
      ...(b.storage.kind === "etcd" ? { etcd: { endpoints: b.storage.endpoints } } : {}),
    });
    return { cluster };
  });
  route("DELETE", "/clusters/:clusterId", async ({ params }, caller) => {
    await clusters.deleteCluster(caller, idParam(params, "clusterId", CLUSTER_ID));
    return {};
  });
  route("GET", "/clusters/:clusterId", async ({ params }, caller) => {
    const cluster = await clusters.describeCluster(caller, idParam(params, "clusterId", CLUSTER_ID));
    const task =
      cluster.currentTaskId === undefined || cluster.currentTaskId === ""
        ? undefined
        : await clusters.describeTask(caller, cluster.currentTaskId).catch(() => undefined);
    return { cluster, task };
  });
  route("POST", "/clusters/:clusterId/encryption", async ({ params, body }, caller) => {
    const b = parseBody(encryptionBody, body);
    return clusters.updateKmsEncryption(
      caller,
      idParam(params, "clusterId", CLUSTER_ID),
      b.enabled ? { disableEncryption: false, kmsKeyId: b.kmsKeyId } : { disableEncryption: true },
    );
  });
  route("GET", "/clusters/:clusterId/events", async ({ params }, caller) =>
    clusters.listEvents(caller, idParam(params, "clusterId", CLUSTER_ID), { pageSize: 50, pageNumber: 1 }),
  );
  route("GET", "/clusters/:clusterId/roles", async ({ params }, caller) => ({
    roles: await clusters.listRoles(caller, idParam(params, "clusterId", CLUSTER_ID)),
  }));
  route("POST", "/clusters/:clusterId/roles", async ({ params, body }, caller) => {
    const b = parseBody(grantBody, body);
    await clusters.grantRole(caller, idParam(params, "clusterId", CLUSTER_ID), b.principal, b.role);
    return {};
  });
  route("GET", "/tasks/:taskId", async ({ params }, caller) =>
    clusters.describeTask(caller, idParam(params, "taskId", TASK_ID)),
  );

  // The service role: whether it exists with its policy (RAM calls as the user), and whether this
  // user may authorize it — RAM's own decision for CreateRole and AttachPolicyToRole on the role, so
  // the page offers quick authorization only to those RAM would let do it, and tells others whom to ask.
  route("GET", "/service-role", async ({ upstream }, caller) => {
    const arn = serviceRoleArn(resolver.accountId);
    const missing: string[] = [];
    for (const action of QUICK_AUTHORIZE_ACTIONS)
      if (!(await resolver.allows(caller.identity, action, [arn]))) missing.push(action);
    return {
      roleName: CS_SERVICE_ROLE,
      policyName: CS_SERVICE_ROLE_POLICY,
      accountId: resolver.accountId,
      ...(await serviceRoleState(upstream)),
      canAuthorize: missing.length === 0,
      missingPermissions: missing,
    };
  });
  // Quick authorization, as `atrest iam quick-authorize` does it (idempotent): RAM decides, as the user.
  apiRoute(scope, "POST", "/service-role", async ({ upstream }) => {
    try {
      await upstream.call("ram", "CreateRole", {
        RoleName: CS_SERVICE_ROLE,
        AssumeRolePolicyDocument: CS_SERVICE_ROLE_TRUST_POLICY,
        Description:
          "Quick authorization: the role the clusters' KMS plugin assumes (ACK's AliyunCSManagedSecurityRole)",
      });
    } catch (err) {
      if (!upstreamCode(err).startsWith("EntityAlreadyExists")) throw err;
      const role = (await upstream.call("ram", "GetRole", { RoleName: CS_SERVICE_ROLE }))["Role"] as
        { AssumeRolePolicyDocument?: string } | undefined;
      if (!sameJson(role?.AssumeRolePolicyDocument ?? "", CS_SERVICE_ROLE_TRUST_POLICY))
        throw consoleRefusal(
          "failed-precondition",
          "ServiceRoleTrustChanged",
          `${CS_SERVICE_ROLE} exists with another trust policy; restore it (UpdateRole) to ${CS_SERVICE_ROLE_TRUST_POLICY}`,
        );
    }
    try {
      await upstream.call("ram", "AttachPolicyToRole", {
        RoleName: CS_SERVICE_ROLE,
        PolicyName: CS_SERVICE_ROLE_POLICY,
        PolicyType: "System",
      });
    } catch (err) {
      if (!upstreamCode(err).startsWith("EntityAlreadyExists")) throw err;
    }
    return { roleName: CS_SERVICE_ROLE, exists: true, authorized: true };
  });
}
