import type { KubeObject } from "../../kube-object/types.js";

/**
 * kube's bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy, as its testdata records it)
 * for what a user of this server meets: cluster-admin, the aggregated admin / edit / view roles and the
 * system:aggregate-to-* roles that fill them, and the roles every user and the public hold. Rules name
 * kube's resources whether atrest serves them or not, exactly as kube-apiserver writes them, so roles and
 * escalation checks compare the same on both servers.
 */

export const BOOTSTRAP_LABEL = { "kubernetes.io/bootstrapping": "rbac-defaults" } as const;
export const AUTOUPDATE_ANNOTATION = "rbac.authorization.kubernetes.io/autoupdate";
export const AGGREGATE_TO = {
  admin: "rbac.authorization.k8s.io/aggregate-to-admin",
  edit: "rbac.authorization.k8s.io/aggregate-to-edit",
  view: "rbac.authorization.k8s.io/aggregate-to-view",
} as const;

const READ = ["get", "list", "watch"];
const WRITE = ["create", "delete", "deletecollection", "patch", "update"];
const READ_WRITE = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

const rule = (verbs: string[], apiGroups: string[], resources: string[]): Record<string, unknown> => ({
  apiGroups,
  resources,
  verbs,
});
const urls = (verbs: string[], nonResourceURLs: string[]): Record<string, unknown> => ({
  nonResourceURLs,
  verbs,
});

function clusterRole(
  name: string,
  rules: Record<string, unknown>[] | null,
  extra: { labels?: Record<string, string>; aggregateFrom?: string } = {},
): KubeObject {
  const obj: KubeObject = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: {
      name,
      labels: { ...BOOTSTRAP_LABEL, ...(extra.labels ?? {}) },
      annotations: { [AUTOUPDATE_ANNOTATION]: "true" },
    },
    rules,
  };
  if (extra.aggregateFrom !== undefined)
    obj.aggregationRule = { clusterRoleSelectors: [{ matchLabels: { [extra.aggregateFrom]: "true" } }] };
  return obj;
}

function clusterRoleBinding(name: string, groups: string[]): KubeObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name, labels: { ...BOOTSTRAP_LABEL }, annotations: { [AUTOUPDATE_ANNOTATION]: "true" } },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
    subjects: groups.map((g) => ({ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: g })),
  };
}

export const BOOTSTRAP_CLUSTER_ROLES: readonly KubeObject[] = Object.freeze([
  clusterRole("cluster-admin", [rule(["*"], ["*"], ["*"]), urls(["*"], ["*"])]),
  clusterRole("admin", null, { aggregateFrom: AGGREGATE_TO.admin }),
  clusterRole("edit", null, { aggregateFrom: AGGREGATE_TO.edit, labels: { [AGGREGATE_TO.admin]: "true" } }),
  clusterRole("view", null, { aggregateFrom: AGGREGATE_TO.view, labels: { [AGGREGATE_TO.edit]: "true" } }),
  clusterRole(
    "system:aggregate-to-admin",
    [
      rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
      rule(READ_WRITE, ["rbac.authorization.k8s.io"], ["rolebindings", "roles"]),
    ],
    { labels: { [AGGREGATE_TO.admin]: "true" } },
  ),
  clusterRole(
    "system:aggregate-to-edit",
    [
      rule(
        READ,
        [""],
        ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"],
      ),
      rule(["impersonate"], [""], ["serviceaccounts"]),
      rule(WRITE, [""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
      rule(["create"], [""], ["pods/eviction"]),
      rule(
        WRITE,
        [""],
        [
          "configmaps",
          "events",
          "persistentvolumeclaims",
          "replicationcontrollers",
          "replicationcontrollers/scale",
          "secrets",
          "serviceaccounts",
          "services",
          "services/proxy",
        ],
      ),
      rule(["create"], [""], ["serviceaccounts/token"]),
      rule(
        WRITE,
        ["apps"],
        [
          "daemonsets",
          "deployments",
          "deployments/rollback",
          "deployments/scale",
          "replicasets",
          "replicasets/scale",
          "statefulsets",
          "statefulsets/scale",
        ],
      ),
      rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
      rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
      rule(
        WRITE,
        ["extensions"],
        [
          "daemonsets",
          "deployments",
          "deployments/rollback",
          "deployments/scale",
          "ingresses",
          "networkpolicies",
          "replicasets",
          "replicasets/scale",
          "replicationcontrollers/scale",
        ],
      ),
      rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
      rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
      rule(READ_WRITE, ["coordination.k8s.io"], ["leases"]),
    ],
    { labels: { [AGGREGATE_TO.edit]: "true" } },
  ),
  clusterRole(
    "system:aggregate-to-view",
    [
      rule(
        READ,
        [""],
        [
          "configmaps",
          "endpoints",
          "persistentvolumeclaims",
          "persistentvolumeclaims/status",
          "pods",
          "replicationcontrollers",
          "replicationcontrollers/scale",
          "serviceaccounts",
          "services",
          "services/status",
        ],
      ),
      rule(
        READ,
        [""],
        [
          "bindings",
          "events",
          "limitranges",
          "namespaces/status",
          "pods/log",
          "pods/status",
          "replicationcontrollers/status",
          "resourcequotas",
          "resourcequotas/status",
        ],
      ),
      rule(READ, [""], ["namespaces"]),
      rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
      rule(
        READ,
        ["apps"],
        [
          "controllerrevisions",
          "daemonsets",
          "daemonsets/status",
          "deployments",
          "deployments/scale",
          "deployments/status",
          "replicasets",
          "replicasets/scale",
          "replicasets/status",
          "statefulsets",
          "statefulsets/scale",
          "statefulsets/status",
        ],
      ),
      rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
      rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
      rule(
        READ,
        ["extensions"],
        [
          "daemonsets",
          "daemonsets/status",
          "deployments",
          "deployments/scale",
          "deployments/status",
          "ingresses",
          "ingresses/status",
          "networkpolicies",
          "replicasets",
          "replicasets/scale",
          "replicasets/status",
          "replicationcontrollers/scale",
        ],
      ),
      rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
      rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
    ],
    { labels: { [AGGREGATE_TO.view]: "true" } },
  ),
  clusterRole("system:basic-user", [
    rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
    rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
  ]),
  clusterRole("system:discovery", [
    urls(
      ["get"],
      [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/openapi",
        "/openapi/*",
        "/readyz",
        "/version",
        "/version/",
      ],
    ),
  ]),
  clusterRole("system:monitoring", [
    urls(
      ["get"],
      ["/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*"],
    ),
  ]),
  clusterRole("system:public-info-viewer", [
    urls(["get"], ["/healthz", "/livez", "/readyz", "/version", "/version/"]),
  ]),
]);

export const BOOTSTRAP_CLUSTER_ROLE_BINDINGS: readonly KubeObject[] = Object.freeze([
  clusterRoleBinding("cluster-admin", ["system:masters"]),
  clusterRoleBinding("system:basic-user", ["system:authenticated"]),
  clusterRoleBinding("system:discovery", ["system:authenticated"]),
  clusterRoleBinding("system:monitoring", ["system:monitoring"]),
  clusterRoleBinding("system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]),
]);
