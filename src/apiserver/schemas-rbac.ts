import { listSchema, META, s, typeMetaFields, type FieldSchema, type TypeSchema } from "./schema-fields.js";

/** rbac.authorization.k8s.io/v1 as kube's OpenAPI describes it (definition names, list types, required). */

const RBAC = "io.k8s.api.rbac.v1.";
const GROUP = "rbac.authorization.k8s.io";
const strings = (d: string): FieldSchema => ({ list: s(), listType: "atomic", d });
const meta: FieldSchema = { ref: META + "ObjectMeta", d: "Standard object's metadata." };

export const RBAC_SCHEMAS: Readonly<Record<string, TypeSchema>> = {
  [RBAC + "PolicyRule"]: {
    description:
      "PolicyRule holds information that describes a policy rule, but does not contain information about who the rule applies to or which namespace the rule applies to.",
    properties: {
      apiGroups: strings(
        'APIGroups is the name of the APIGroup that contains the resources.  If multiple API groups are specified, any action requested against one of the enumerated resources in any API group will be allowed. "" represents the core API group and "*" represents all API groups.',
      ),
      nonResourceURLs: strings(
        "NonResourceURLs is a set of partial urls that a user should have access to.  *s are allowed, but only as the full, final step in the path.",
      ),
      resourceNames: strings(
        "ResourceNames is an optional white list of names that the rule applies to.  An empty set means that everything is allowed.",
      ),
      resources: strings(
        "Resources is a list of resources this rule applies to. '*' represents all resources.",
      ),
      verbs: strings(
        "Verbs is a list of Verbs that apply to ALL the ResourceKinds contained in this rule. '*' represents all verbs.",
      ),
    },
    required: ["verbs"],
  },
  [RBAC + "AggregationRule"]: {
    description: "AggregationRule describes how to locate ClusterRoles to aggregate into the ClusterRole",
    properties: {
      clusterRoleSelectors: {
        list: { ref: META + "LabelSelector" },
        listType: "atomic",
        d: "ClusterRoleSelectors holds a list of selectors which will be used to find ClusterRoles and create the rules. If any of the selectors match, then the ClusterRole's permissions will be added",
      },
    },
  },
  [RBAC + "RoleRef"]: {
    description: "RoleRef contains information that points to the role being used",
    properties: {
      apiGroup: s("APIGroup is the group for the resource being referenced"),
      kind: s("Kind is the type of resource being referenced"),
      name: s("Name is the name of resource being referenced"),
    },
    required: ["apiGroup", "kind", "name"],
    structType: "atomic",
  },
  [RBAC + "Subject"]: {
    description:
      "Subject contains a reference to the object or user identities a role binding applies to.  This can either hold a direct API object reference, or a value for non-objects such as user and group names.",
    properties: {
      apiGroup: s(
        'APIGroup holds the API group of the referenced subject. Defaults to "" for ServiceAccount subjects. Defaults to "rbac.authorization.k8s.io" for User and Group subjects.',
      ),
      kind: s(
        'Kind of object being referenced. Values defined by this API group are "User", "Group", and "ServiceAccount".',
      ),
      name: s("Name of the object being referenced."),
      namespace: s("Namespace of the referenced object."),
    },
    required: ["kind", "name"],
  },
  [RBAC + "Role"]: {
    description:
      "Role is a namespaced, logical grouping of PolicyRules that can be referenced as a unit by a RoleBinding.",
    properties: {
      ...typeMetaFields,
      metadata: meta,
      rules: {
        list: { ref: RBAC + "PolicyRule" },
        listType: "atomic",
        d: "Rules holds all the PolicyRules for this Role",
      },
    },
    gvk: { group: GROUP, version: "v1", kind: "Role" },
  },
  [RBAC + "ClusterRole"]: {
    description:
      "ClusterRole is a cluster level, logical grouping of PolicyRules that can be referenced as a unit by a RoleBinding or ClusterRoleBinding.",
    properties: {
      ...typeMetaFields,
      aggregationRule: { ref: RBAC + "AggregationRule" },
      metadata: meta,
      rules: {
        list: { ref: RBAC + "PolicyRule" },
        listType: "atomic",
        d: "Rules holds all the PolicyRules for this ClusterRole",
      },
    },
    gvk: { group: GROUP, version: "v1", kind: "ClusterRole" },
  },
  [RBAC + "RoleBinding"]: {
    description:
      "RoleBinding references a role, but does not contain it.  It can reference a Role in the same namespace or a ClusterRole in the global namespace.",
    properties: {
      ...typeMetaFields,
      metadata: meta,
      roleRef: { ref: RBAC + "RoleRef" },
      subjects: {
        list: { ref: RBAC + "Subject" },
        listType: "atomic",
        d: "Subjects holds references to the objects the role applies to.",
      },
    },
    required: ["roleRef"],
    gvk: { group: GROUP, version: "v1", kind: "RoleBinding" },
  },
  [RBAC + "ClusterRoleBinding"]: {
    description:
      "ClusterRoleBinding references a ClusterRole, but not contain it.  It can reference a ClusterRole in the global namespace, and adds who information via Subject.",
    properties: {
      ...typeMetaFields,
      metadata: meta,
      roleRef: { ref: RBAC + "RoleRef" },
      subjects: {
        list: { ref: RBAC + "Subject" },
        listType: "atomic",
        d: "Subjects holds references to the objects the role applies to.",
      },
    },
    required: ["roleRef"],
    gvk: { group: GROUP, version: "v1", kind: "ClusterRoleBinding" },
  },
};

for (const kind of ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]) {
  (RBAC_SCHEMAS as Record<string, TypeSchema>)[`${RBAC}${kind}List`] = listSchema(
    RBAC + kind,
    GROUP,
    "v1",
    kind,
  );
}
