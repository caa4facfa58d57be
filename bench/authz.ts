/**
 * What RBAC costs a request: GET of a Secret by a user who is not in system:masters (so every request is
 * decided by the authorizer) against an apiserver with `--authorization-mode RBAC` and 1,000 RoleBindings,
 * beside one with AlwaysAllow holding the same objects, same run, alternating rounds. Both run as their own
 * process (`atrest apiserver`, memory store). Then the decision alone, in process: the RBAC authorizer
 * over the same 1,000 bindings (plus kube's bootstrap policy) beside AlwaysAllow.
 * Goal: RBAC get throughput ≥ 0.95× AlwaysAllow's.
 */
import { Agent } from "node:https";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeObject } from "../src/kube-object/types.js";
import {
  BOOTSTRAP_CLUSTER_ROLE_BINDINGS,
  BOOTSTRAP_CLUSTER_ROLES,
} from "../src/apiserver/authz/bootstrap-policy.js";
import { alwaysAllow } from "../src/apiserver/authz/modes.js";
import { createRbacAuthorizer } from "../src/apiserver/authz/rbac-authorizer.js";
import { RbacIndex } from "../src/apiserver/authz/rbac-index.js";
import { RuleResolver } from "../src/apiserver/authz/rule-resolver.js";
import type { Attributes, Authorizer } from "../src/apiserver/authz/types.js";
import { startApi, stopChild, type Api } from "./apiserver.js";
import { apiCall, pool, secretJson, type ApiTarget } from "./support-api.js";

const BINDINGS = Number(process.env.BENCH_AUTHZ_BINDINGS ?? 1000);
const SECRETS = 200;
const GETS = Number(process.env.BENCH_AUTHZ_GETS ?? 4000);
const CONCURRENCY = 16;
const ROUNDS = 8;
const DECISIONS = 200_000;
const NAMESPACES = 10;

const RBAC_V1 = "rbac.authorization.k8s.io/v1";
const ROLE: KubeObject = {
  apiVersion: RBAC_V1,
  kind: "ClusterRole",
  metadata: { name: "secret-reader" },
  rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] }],
};
/** RoleBinding i: other users over NAMESPACES namespaces; the last one, in default, is the reader's. */
function roleBinding(i: number): KubeObject {
  const reader = i === BINDINGS - 1;
  return {
    apiVersion: RBAC_V1,
    kind: "RoleBinding",
    metadata: { name: `rb-${i}`, namespace: reader ? "default" : `team-${i % NAMESPACES}` },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "secret-reader" },
    subjects: [
      { apiGroup: "rbac.authorization.k8s.io", kind: "User", name: reader ? "reader" : `user-${i}` },
      { apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: `group-${i % 50}` },
    ],
  };
}

async function prepare(admin: ApiTarget, agent: Agent): Promise<void> {
  for (let n = 0; n < NAMESPACES; n++)
    await apiCall(
      admin,
      agent,
      "POST",
      "/api/v1/namespaces",
      JSON.stringify({ metadata: { name: `team-${n}` } }),
    );
  await apiCall(
    admin,
    agent,
    "POST",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    JSON.stringify(ROLE),
  );
  await pool(0, BINDINGS, CONCURRENCY, (i) => {
    const b = roleBinding(i);
    const ns = (b.metadata as { namespace: string }).namespace;
    return apiCall(
      admin,
      agent,
      "POST",
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
      JSON.stringify(b),
    );
  });
  await pool(0, SECRETS, CONCURRENCY, (i) =>
    apiCall(admin, agent, "POST", "/api/v1/namespaces/default/secrets", secretJson(i)),
  );
}

async function overHttp(): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), "atrest-bench-authz-"));
  const servers: Record<"rbac" | "alwaysAllow", { api: Api; agent: Agent; reader: ApiTarget } | undefined> = {
    rbac: undefined,
    alwaysAllow: undefined,
  };
  try {
    for (const [side, mode] of [
      ["rbac", "RBAC"],
      ["alwaysAllow", "AlwaysAllow"],
    ] as const) {
      const dir = join(root, side);
      // startApi reads the admin's token from the first line of <data dir>/tokens.csv.
      const tokens = join(dir, "tokens.csv");
      mkdirSync(dir);
      writeFileSync(tokens, 'admin-token,admin,1,"system:masters"\nreader-token,reader,2,\n', {
        mode: 0o600,
      });
      const api = await startApi(dir, [
        "--datastore-endpoint",
        "memory://",
        "--token-auth-file",
        tokens,
        "--authorization-mode",
        mode,
      ]);
      const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca: api.ca });
      servers[side] = { api, agent, reader: { ...api, token: "reader-token" } };
      await prepare(api, agent);
    }
    const seconds = { rbac: 0, alwaysAllow: 0 };
    const slice = Math.ceil(GETS / ROUNDS);
    // One warm-up slice each, then alternating rounds so the machine's other load falls on both alike.
    // (which side goes first alternates too).
    for (let r = -1; r < ROUNDS; r++)
      for (const side of r % 2 === 0
        ? (["rbac", "alwaysAllow"] as const)
        : (["alwaysAllow", "rbac"] as const)) {
        const s = servers[side]!;
        const elapsed = await pool(0, slice, CONCURRENCY, (i) =>
          apiCall(s.reader, s.agent, "GET", `/api/v1/namespaces/default/secrets/s${i % SECRETS}`),
        );
        if (r >= 0) seconds[side] += elapsed;
      }
    const rate = (s: number): number => Math.round((slice * ROUNDS) / s);
    const rbac = rate(seconds.rbac);
    const allow = rate(seconds.alwaysAllow);
    return {
      rbacGetPerSec: rbac,
      alwaysAllowGetPerSec: allow,
      rbacOverAlwaysAllow: Math.round((rbac / allow) * 100) / 100,
    };
  } finally {
    for (const s of Object.values(servers)) {
      s?.agent.destroy();
      if (s !== undefined) await stopChild(s.api.child);
    }
    rmSync(root, { recursive: true, force: true });
  }
}

function inProcess(): Record<string, unknown> {
  const index = new RbacIndex();
  for (const o of [...BOOTSTRAP_CLUSTER_ROLES, ...BOOTSTRAP_CLUSTER_ROLE_BINDINGS, ROLE]) index.put(o);
  for (let i = 0; i < BINDINGS; i++) index.put(roleBinding(i));
  const rbac = createRbacAuthorizer(new RuleResolver(index));
  const attrs: Attributes = {
    user: { name: "reader", uid: "2", groups: ["system:authenticated"] },
    verb: "get",
    isResourceRequest: true,
    path: "/api/v1/namespaces/default/secrets/s1",
    namespace: "default",
    apiGroup: "",
    apiVersion: "v1",
    resource: "secrets",
    subresource: "",
    name: "s1",
  };
  const denied: Attributes = { ...attrs, namespace: "team-3", path: "/api/v1/namespaces/team-3/secrets/s1" };
  if (rbac.authorize(attrs).decision !== "Allow" || rbac.authorize(denied).decision !== "NoOpinion")
    throw new Error("the RBAC authorizer does not decide the benchmark's requests as expected");
  const nsPer = (a: Authorizer, x: Attributes): number => {
    const started = process.hrtime.bigint();
    for (let i = 0; i < DECISIONS; i++) a.authorize(x);
    return Math.round(Number(process.hrtime.bigint() - started) / DECISIONS);
  };
  nsPer(rbac, attrs); // warm-up
  return {
    decisions: DECISIONS,
    rbacAllowedNsPerDecision: nsPer(rbac, attrs),
    rbacNoOpinionNsPerDecision: nsPer(rbac, denied),
    alwaysAllowNsPerDecision: nsPer(alwaysAllow, attrs),
  };
}

export async function run(): Promise<Record<string, unknown>> {
  return {
    roleBindings: BINDINGS,
    secrets: SECRETS,
    gets: GETS,
    concurrency: CONCURRENCY,
    interleavedRounds: ROUNDS,
    goal: "rbac get throughput >= 0.95x AlwaysAllow",
    http: await overHttp(),
    inProcess: inProcess(),
  };
}
