import { isPlainObject, type KubeObject } from "../../kube-object/types.js";
import { ageColumn, createdAtColumn, nameColumn } from "../table.js";
import {
  defaultBinding,
  validateClusterRole,
  validateClusterRoleBinding,
  validateRole,
  validateRoleBinding,
} from "../validation-rbac.js";
import { defineResource, type GroupVersion, type TableColumn } from "./define.js";

/** rbac.authorization.k8s.io/v1: roles, cluster roles and their bindings, stored as kube stores them. */

const GROUP = "rbac.authorization.k8s.io";
const RBAC = "io.k8s.api.rbac.v1.";

const str = (v: unknown): string => (typeof v === "string" ? v : "");

function subjectNames(obj: KubeObject, kind: string): string {
  const subjects = Array.isArray(obj.subjects) ? obj.subjects : [];
  return subjects
    .filter((s): s is Record<string, unknown> => isPlainObject(s) && s.kind === kind)
    .map((s) => (kind === "ServiceAccount" ? `${str(s.namespace)}/${str(s.name)}` : str(s.name)))
    .join(", ");
}

const wide = (name: string, description: string, cell: TableColumn["cell"]): TableColumn => ({
  name,
  type: "string",
  format: "",
  description,
  priority: 1,
  cell,
});

/** kube's printer for RoleBindings and ClusterRoleBindings (the wide columns at priority 1). */
const bindingColumns: readonly TableColumn[] = [
  nameColumn,
  {
    name: "Role",
    type: "string",
    format: "",
    description:
      "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.",
    priority: 0,
    cell: (o) => (isPlainObject(o.roleRef) ? `${str(o.roleRef.kind)}/${str(o.roleRef.name)}` : "/"),
  },
  ageColumn,
  wide("Users", "Users in the roleBinding", (o) => subjectNames(o, "User")),
  wide("Groups", "Groups in the roleBinding", (o) => subjectNames(o, "Group")),
  wide("ServiceAccounts", "ServiceAccounts in the roleBinding", (o) => subjectNames(o, "ServiceAccount")),
];

const common = { group: GROUP, version: "v1", nameRule: "path-segment" } as const;

export const RBAC_V1: GroupVersion = {
  group: GROUP,
  version: "v1",
  resources: [
    defineResource({
      ...common,
      resource: "clusterrolebindings",
      singularName: "clusterrolebinding",
      kind: "ClusterRoleBinding",
      namespaced: false,
      schema: RBAC + "ClusterRoleBinding",
      columns: bindingColumns,
      defaults: defaultBinding,
      validate: validateClusterRoleBinding,
    }),
    defineResource({
      ...common,
      resource: "clusterroles",
      singularName: "clusterrole",
      kind: "ClusterRole",
      namespaced: false,
      schema: RBAC + "ClusterRole",
      columns: [nameColumn, createdAtColumn],
      validate: (obj) => validateClusterRole(obj),
    }),
    defineResource({
      ...common,
      resource: "rolebindings",
      singularName: "rolebinding",
      kind: "RoleBinding",
      namespaced: true,
      schema: RBAC + "RoleBinding",
      columns: bindingColumns,
      defaults: defaultBinding,
      validate: validateRoleBinding,
    }),
    defineResource({
      ...common,
      resource: "roles",
      singularName: "role",
      kind: "Role",
      namespaced: true,
      schema: RBAC + "Role",
      columns: [nameColumn, createdAtColumn],
      validate: (obj) => validateRole(obj),
    }),
  ],
};
