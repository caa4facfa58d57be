import { AtrestError } from "../../common/errors.js";
import type { KubeObject } from "../../kube-object/types.js";
import { dns1123LabelErrors, pathSegmentNameErrors } from "../validation.js";

/**
 * The control plane's cluster roles as ACK grants them in a cluster: one predefined ClusterRole per role
 * (ACK's templates cs:admin, cs:ops, cs:dev, cs:restricted, from ACK's "role template synchronization"
 * documentation), bound to the RAM principal's id as a User — cluster-wide with a ClusterRoleBinding, or
 * in one namespace with a RoleBinding. docs/rbac.md has the mapping and where each template comes from.
 */

export type AckRole = "admin" | "ops" | "dev" | "restricted";
export const ACK_ROLES: readonly AckRole[] = ["admin", "ops", "dev", "restricted"];
/** The cluster roles that may switch Secret encryption (the seed documents: administrator or O&M engineer). */
export const ACK_ENCRYPTION_ROLES: readonly AckRole[] = ["admin", "ops"];

const ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const READ = ["get", "list", "watch"];
const PODS = ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"];
const CORE_OBJECTS = [
  "configmaps",
  "endpoints",
  "persistentvolumeclaims",
  "replicationcontrollers",
  "replicationcontrollers/scale",
  "secrets",
  "serviceaccounts",
  "services",
  "services/proxy",
];
const APPS = [
  "daemonsets",
  "deployments",
  "deployments/rollback",
  "deployments/scale",
  "replicasets",
  "replicasets/scale",
  "statefulsets",
];
const EXTENSIONS = [
  "daemonsets",
  "deployments",
  "deployments/rollback",
  "deployments/scale",
  "ingresses",
  "replicasets",
  "replicasets/scale",
  "replicationcontrollers/scale",
];

const rule = (apiGroups: string[], resources: string[], verbs: string[]): Record<string, unknown> => ({
  apiGroups,
  resources,
  verbs,
});

/** The workload groups every template but cs:admin lists, with the template's verbs. */
const workloads = (verbs: string[]): Record<string, unknown>[] => [
  rule(["apps"], APPS, verbs),
  rule(["autoscaling"], ["horizontalpodautoscalers"], verbs),
  rule(["batch"], ["cronjobs", "jobs"], verbs),
  rule(["extensions"], EXTENSIONS, verbs),
];

const RULES: Readonly<Record<AckRole, Record<string, unknown>[]>> = {
  admin: [rule(["*"], ["*"], ["*"]), { nonResourceURLs: ["*"], verbs: ["*"] }],
  ops: [
    rule([""], PODS, ALL),
    rule([""], CORE_OBJECTS, ALL),
    rule(
      [""],
      [
        "bindings",
        "events",
        "limitranges",
        "namespaces/status",
        "replicationcontrollers/status",
        "pods/log",
        "pods/status",
        "resourcequotas",
        "resourcequotas/status",
        "componentstatuses",
      ],
      READ,
    ),
    rule([""], ["namespaces", "nodes", "persistentvolumes"], [...READ, "patch"]),
    rule(["coordination.k8s.io"], ["leases"], ["get"]),
    ...workloads(ALL),
  ],
  dev: [
    rule([""], PODS, ALL),
    rule([""], CORE_OBJECTS, ALL),
    rule(
      [""],
      [
        "events",
        "namespaces/status",
        "replicationcontrollers/status",
        "pods/log",
        "pods/status",
        "componentstatuses",
      ],
      READ,
    ),
    rule([""], ["namespaces"], READ),
    ...workloads(ALL),
  ],
  restricted: [
    rule([""], PODS, READ),
    rule([""], CORE_OBJECTS, READ),
    rule(
      [""],
      ["events", "replicationcontrollers/status", "pods/log", "pods/status", "componentstatuses"],
      READ,
    ),
    ...workloads(READ),
  ],
};

export function ackClusterRoleName(role: AckRole): string {
  return `cs:${role}`;
}

/** ACK's predefined ClusterRoles, as `atrest up` puts them in its cluster. */
export const ACK_CLUSTER_ROLES: readonly KubeObject[] = Object.freeze(
  ACK_ROLES.map((role) => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: ackClusterRoleName(role) },
    rules: RULES[role],
  })),
);

export interface AckGrant {
  /** The RAM user's or role's id: the Kubernetes user name ACK's kubeconfigs authenticate as. */
  readonly principal: string;
  readonly role: AckRole;
  /** A namespace for developers and restricted users; cluster-wide when absent. */
  readonly namespace?: string;
}

/**
 * The binding ACK makes for a grant: `<principal>-clusterrolebinding` (cluster-wide) or
 * `<principal>-<role>-rolebinding` in the namespace, naming the principal as a User.
 */
export function ackGrantBinding(grant: AckGrant): KubeObject {
  const { principal, role, namespace } = grant;
  if (principal === "" || pathSegmentNameErrors(principal).length > 0)
    throw new AtrestError(
      "invalid-argument",
      `principal ${JSON.stringify(principal)} is not a valid RBAC subject name`,
    );
  if (!ACK_ROLES.includes(role))
    throw new AtrestError(
      "invalid-argument",
      `role must be one of ${ACK_ROLES.join(", ")}, got ${JSON.stringify(role)}`,
    );
  if (namespace !== undefined && (role === "admin" || role === "ops"))
    throw new AtrestError("invalid-argument", `the ${role} role is granted cluster-wide, not in a namespace`);
  if (namespace !== undefined && dns1123LabelErrors(namespace).length > 0)
    throw new AtrestError(
      "invalid-argument",
      `namespace ${JSON.stringify(namespace)} is not a valid namespace name`,
    );
  const common = {
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: ackClusterRoleName(role) },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: principal }],
  };
  return namespace === undefined
    ? {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: `${principal}-clusterrolebinding` },
        ...common,
      }
    : {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: `${principal}-${role}-rolebinding`, namespace },
        ...common,
      };
}
