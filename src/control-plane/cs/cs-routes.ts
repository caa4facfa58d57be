import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { Clock } from "../../common/clock.js";
import type { Random } from "../../common/random.js";
import {
  authenticateRpc,
  nonceDigest,
  rpcHeader,
  type IamDb,
  type IdentityStore,
  type RpcHttpRequest,
} from "../../iam/index.js";
import { recordCsCall, CS_API_VERSION } from "../service/audit.js";
import { CLUSTER_ROLES, type Caller, type ClusterRole, type ClusterService } from "../service/types.js";
import { csError, toCsWireError } from "./cs-error.js";
import { clusterDetail, clusterEvent, taskInfo } from "./render.js";
import {
  createClusterBody,
  grantRoleBody,
  intParam,
  modifyClusterTagsBody,
  parseBody,
  registerClusterBody,
  strParam,
  updateKmsEncryptionBody,
} from "./requests.js";

/** The largest request body read (every operation served fits well within it). */
export const MAX_CS_BODY_BYTES = 64 * 1024;

export interface CsRoutesOptions {
  readonly service: ClusterService;
  readonly identity: IdentityStore;
  readonly idb: IamDb;
  readonly accountId: string;
  readonly regionId: string;
  readonly clock: Clock;
  readonly random: Random;
}

type Query = Record<string, string | string[] | undefined>;
type Handler = (
  caller: Caller,
  req: FastifyRequest,
  raw: Buffer,
) => Promise<{ status: number; body?: unknown }>;

interface Operation {
  readonly method: "GET" | "PUT" | "POST" | "DELETE";
  readonly url: string;
  readonly action: string;
  readonly handle: Handler;
}

const paramOf = (req: FastifyRequest, name: string): string =>
  (req.params as Record<string, string | undefined>)[name] ?? "";

/**
 * The Container Service API (cs, 2015-12-15, ROA) as a fastify plugin: the operations Secret
 * encryption needs, at ACK's paths, for the official `@alicloud/cs20151215` client (and the older
 * `@alicloud/pop-core` ROAClient). Each request is authenticated by src/iam (signature V3 with its
 * headers, or ROA `acs AK:sig` with the operation's action; STS tokens in x-acs-security-token; the
 * nonce is reserved in the shared database), then handed to the service with the caller; errors are
 * ACK's JSON `{requestId, code, message}` (cs-error.ts). Refusals before a caller is known are
 * recorded too. Registered in its own context: its raw-body parser does not touch other routes.
 */
export const csRoutes: FastifyPluginAsync<CsRoutesOptions> = (app, o) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: MAX_CS_BODY_BYTES }, (_req, body, done) =>
    done(null, body),
  );

  const operations: Operation[] = [
    {
      method: "GET",
      url: "/api/v1/clusters",
      action: "DescribeClustersV1",
      handle: async (caller, req) => {
        const q = req.query as Query;
        const pageSize = intParam(q, "page_size", 10);
        const pageNumber = intParam(q, "page_number", 1);
        const name = strParam(q, "name");
        const clusterId = strParam(q, "cluster_id");
        const regionId = strParam(q, "region_id");
        const r = await o.service.listClusters(caller, {
          pageSize,
          pageNumber,
          ...(name === undefined ? {} : { name }),
          ...(clusterId === undefined ? {} : { clusterId }),
          ...(regionId === undefined ? {} : { regionId }),
        });
        return {
          status: 200,
          body: {
            clusters: r.clusters.map(clusterDetail),
            page_info: { page_number: pageNumber, page_size: pageSize, total_count: r.totalCount },
          },
        };
      },
    },
    {
      method: "GET",
      url: "/clusters",
      action: "DescribeClusters",
      handle: async (caller, req) => {
        const name = strParam(req.query as Query, "name");
        const r = await o.service.listClusters(caller, {
          pageSize: 100,
          pageNumber: 1,
          ...(name === undefined ? {} : { name }),
        });
        return { status: 200, body: r.clusters.map(clusterDetail) };
      },
    },
    {
      method: "GET",
      url: "/clusters/:ClusterId",
      action: "DescribeClusterDetail",
      handle: async (caller, req) => ({
        status: 200,
        body: clusterDetail(await o.service.describeCluster(caller, paramOf(req, "ClusterId"))),
      }),
    },
    {
      method: "POST",
      url: "/clusters",
      action: "CreateCluster",
      handle: async (caller, _req, raw) => {
        const body = parseBody(createClusterBody, raw, "CreateCluster");
        const c = await o.service.createCluster(caller, {
          name: body.name,
          ...(body.region_id === undefined ? {} : { regionId: body.region_id }),
          ...(body.encryption_provider_key === undefined ? {} : { kmsKeyId: body.encryption_provider_key }),
        });
        return { status: 200, body: { cluster_id: c.clusterId, request_id: caller.requestId, task_id: "" } };
      },
    },
    {
      method: "DELETE",
      url: "/clusters/:ClusterId",
      action: "DeleteCluster",
      handle: async (caller, req) => {
        const clusterId = paramOf(req, "ClusterId");
        await o.service.deleteCluster(caller, clusterId);
        return { status: 200, body: { cluster_id: clusterId, request_id: caller.requestId, task_id: "" } };
      },
    },
    {
      method: "PUT",
      url: "/clusters/:ClusterId/kms",
      action: "UpdateKMSEncryption",
      handle: async (caller, req, raw) => {
        const body = parseBody(updateKmsEncryptionBody, raw, "UpdateKMSEncryption");
        await o.service.updateKmsEncryption(caller, paramOf(req, "ClusterId"), {
          disableEncryption: body.disable_encryption ?? false,
          ...(body.kms_key_id === undefined ? {} : { kmsKeyId: body.kms_key_id }),
        });
        // bodyType "none" in the SDK: a 2xx with an empty body.
        return { status: 202 };
      },
    },
    {
      method: "POST",
      url: "/clusters/:ClusterId/tags",
      action: "ModifyClusterTags",
      handle: async (caller, req, raw) => {
        const tags = parseBody(modifyClusterTagsBody, raw, "ModifyClusterTags");
        await o.service.modifyClusterTags(
          caller,
          paramOf(req, "ClusterId"),
          tags.map((t) => (t.value === undefined ? { key: t.key } : { key: t.key, value: t.value })),
        );
        // bodyType "none" in the SDK: a 2xx with an empty body.
        return { status: 200 };
      },
    },
    {
      method: "GET",
      url: "/clusters/:ClusterId/events",
      action: "DescribeClusterEvents",
      handle: async (caller, req) => {
        const q = req.query as Query;
        const pageSize = intParam(q, "page_size", 50);
        const pageNumber = intParam(q, "page_number", 1);
        const taskId = strParam(q, "task_id");
        const r = await o.service.listEvents(caller, paramOf(req, "ClusterId"), {
          pageSize,
          pageNumber,
          ...(taskId === undefined ? {} : { taskId }),
        });
        return {
          status: 200,
          body: {
            events: r.events.map(clusterEvent),
            page_info: { page_number: pageNumber, page_size: pageSize, total_count: r.totalCount },
          },
        };
      },
    },
    {
      method: "GET",
      url: "/tasks/:taskId",
      action: "DescribeTaskInfo",
      handle: async (caller, req) => ({
        status: 200,
        body: taskInfo(await o.service.describeTask(caller, paramOf(req, "taskId"))),
      }),
    },
    // atrest's extensions (same signatures and RAM actions): register an existing cluster, grant roles.
    {
      method: "POST",
      url: "/atrest/v1/clusters",
      action: "RegisterCluster",
      handle: async (caller, _req, raw) => {
        const body = parseBody(registerClusterBody, raw, "RegisterCluster");
        const c = await o.service.registerCluster(caller, { clusterFile: body.cluster_file });
        return { status: 200, body: clusterDetail(c) };
      },
    },
    {
      method: "POST",
      url: "/atrest/v1/clusters/:ClusterId/roles",
      action: "GrantPermissions",
      handle: async (caller, req, raw) => {
        const body = parseBody(grantRoleBody, raw, "GrantPermissions");
        if (!(CLUSTER_ROLES as readonly string[]).includes(body.role_name))
          throw csError("InvalidParameter", `role_name: one of ${CLUSTER_ROLES.join(", ")}`);
        await o.service.grantRole(
          caller,
          paramOf(req, "ClusterId"),
          body.principal,
          body.role_name as ClusterRole,
        );
        return { status: 200, body: {} };
      },
    },
    {
      method: "GET",
      url: "/atrest/v1/clusters/:ClusterId/roles",
      action: "DescribeUserPermission",
      handle: async (caller, req) => ({
        status: 200,
        body: { roles: await o.service.listRoles(caller, paramOf(req, "ClusterId")) },
      }),
    },
  ];

  const reserveNonce = async (accessKeyId: string, nonce: string, expiresAt: number): Promise<boolean> => {
    const inserted = await o.idb.db
      .insertInto("nonce_digests")
      .values({ digest: nonceDigest(accessKeyId, nonce), expires_at: expiresAt })
      .onConflict((oc) => oc.column("digest").doNothing())
      .returning("digest")
      .execute();
    return inserted.length === 1;
  };

  const send = (reply: FastifyReply, requestId: string, status: number, body: unknown): FastifyReply => {
    reply.code(status).header("x-acs-request-id", requestId);
    if (body === undefined) return reply.send();
    return reply.header("content-type", "application/json;charset=utf-8").send(JSON.stringify(body));
  };

  for (const op of operations) {
    app.route({
      method: op.method,
      url: op.url,
      handler: async (req, reply) => {
        const requestId = o.random.uuid().toUpperCase();
        const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const qIndex = req.url.indexOf("?");
        const rpc: RpcHttpRequest = {
          method: req.method,
          pathname: qIndex < 0 ? req.url : req.url.slice(0, qIndex),
          query: Object.fromEntries(
            Object.entries((req.query ?? {}) as Query).filter(
              (e): e is [string, string | string[]] => e[1] !== undefined,
            ),
          ),
          headers: req.headers,
          rawBody: raw,
          sourceIp: req.ip,
        };
        const userAgent = rpcHeader(req.headers, "user-agent");
        const who = { sourceIp: req.ip, requestId, ...(userAgent === undefined ? {} : { userAgent }) };
        let accessKeyId = "";
        let caller: Caller;
        try {
          const params: Record<string, string> = {};
          for (const [k, v] of Object.entries(rpc.query)) params[k] = Array.isArray(v) ? (v[0] ?? "") : v;
          const auth = await authenticateRpc(rpc, params, {
            identity: o.identity,
            clock: o.clock,
            reserveNonce,
            roaAction: op.action,
            observe: { accessKeyId: (id) => (accessKeyId = id.slice(0, 128)) },
          });
          if (auth.version !== CS_API_VERSION)
            throw csError("InvalidVersion", `x-acs-version: must be ${CS_API_VERSION} (the cs API)`);
          if (auth.action !== op.action)
            throw csError(
              "InvalidParameter",
              `x-acs-action: ${op.method} ${op.url} is ${op.action}, the request was signed as another action`,
            );
          caller = { identity: auth.caller, ...who, via: "cs-api" };
        } catch (err) {
          const wire = toCsWireError(err);
          await recordCsCall(
            o.idb,
            who,
            {
              eventName: op.action,
              readOnly: op.method === "GET",
              regionId: o.regionId,
              accountId: o.accountId,
              accessKeyId,
              errorCode: wire.code,
              errorMessage: wire.message,
            },
            o.clock.now(),
          ).catch(() => undefined);
          return send(reply, requestId, wire.status, { requestId, code: wire.code, message: wire.message });
        }
        try {
          const r = await op.handle(caller, req, raw);
          return send(reply, requestId, r.status, r.body);
        } catch (err) {
          const wire = toCsWireError(err);
          return send(reply, requestId, wire.status, { requestId, code: wire.code, message: wire.message });
        }
      },
    });
  }
  return Promise.resolve();
};
