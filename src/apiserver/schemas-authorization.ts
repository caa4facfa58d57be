import { META, s, typeMetaFields, type FieldSchema, type TypeSchema } from "./schema-fields.js";

/** authorization.k8s.io/v1 (the access reviews) as kube's OpenAPI describes it. */

const AUTHZ = "io.k8s.api.authorization.v1.";
const GROUP = "authorization.k8s.io";
const strings: FieldSchema = { list: s(), listType: "atomic" };
const meta: FieldSchema = { ref: META + "ObjectMeta", d: "Standard list metadata." };

const review = (kind: string, description: string, spec: string, status: string): TypeSchema => ({
  description,
  properties: {
    ...typeMetaFields,
    metadata: meta,
    spec: { ref: AUTHZ + spec, d: "Spec holds information about the request being evaluated." },
    status: { ref: AUTHZ + status },
  },
  required: ["spec"],
  gvk: { group: GROUP, version: "v1", kind },
});

export const AUTHORIZATION_SCHEMAS: Readonly<Record<string, TypeSchema>> = {
  [AUTHZ + "FieldSelectorRequirement"]: {
    description:
      "FieldSelectorRequirement is a selector that contains values, a key, and an operator that relates the key and values.",
    properties: { key: s(), operator: s(), values: strings },
    required: ["key", "operator"],
  },
  [AUTHZ + "FieldSelectorAttributes"]: {
    description: "FieldSelectorAttributes indicates a field limited access.",
    properties: {
      rawSelector: s(),
      requirements: { list: { ref: AUTHZ + "FieldSelectorRequirement" }, listType: "atomic" },
    },
  },
  [AUTHZ + "LabelSelectorAttributes"]: {
    description: "LabelSelectorAttributes indicates a label limited access.",
    properties: {
      rawSelector: s(),
      requirements: { list: { ref: META + "LabelSelectorRequirement" }, listType: "atomic" },
    },
  },
  [AUTHZ + "ResourceAttributes"]: {
    description:
      "ResourceAttributes includes the authorization attributes available for resource requests to the Authorizer interface",
    properties: {
      fieldSelector: { ref: AUTHZ + "FieldSelectorAttributes" },
      group: s('Group is the API Group of the Resource.  "*" means all.'),
      labelSelector: { ref: AUTHZ + "LabelSelectorAttributes" },
      name: s(
        'Name is the name of the resource being requested for a "get" or deleted for a "delete". "" (empty) means all.',
      ),
      namespace: s("Namespace is the namespace of the action being requested."),
      resource: s('Resource is one of the existing resource types.  "*" means all.'),
      subresource: s('Subresource is one of the existing resource types.  "" means none.'),
      verb: s(
        'Verb is a kubernetes resource API verb, like: get, list, watch, create, update, delete, proxy.  "*" means all.',
      ),
      version: s('Version is the API Version of the Resource.  "*" means all.'),
    },
  },
  [AUTHZ + "NonResourceAttributes"]: {
    description:
      "NonResourceAttributes includes the authorization attributes available for non-resource requests to the Authorizer interface",
    properties: { path: s("Path is the URL path of the request"), verb: s("Verb is the standard HTTP verb") },
  },
  [AUTHZ + "SubjectAccessReviewStatus"]: {
    description: "SubjectAccessReviewStatus",
    properties: {
      allowed: {
        t: "boolean",
        d: "Allowed is required. True if the action would be allowed, false otherwise.",
      },
      denied: { t: "boolean" },
      evaluationError: s(),
      reason: s("Reason is optional.  It indicates why a request was allowed or denied."),
    },
    required: ["allowed"],
  },
  [AUTHZ + "SelfSubjectAccessReviewSpec"]: {
    description:
      "SelfSubjectAccessReviewSpec is a description of the access request.  Exactly one of ResourceAuthorizationAttributes and NonResourceAuthorizationAttributes must be set",
    properties: {
      nonResourceAttributes: { ref: AUTHZ + "NonResourceAttributes" },
      resourceAttributes: { ref: AUTHZ + "ResourceAttributes" },
    },
  },
  [AUTHZ + "SubjectAccessReviewSpec"]: {
    description:
      "SubjectAccessReviewSpec is a description of the access request.  Exactly one of ResourceAuthorizationAttributes and NonResourceAuthorizationAttributes must be set",
    properties: {
      extra: {
        free: true,
        d: "Extra corresponds to the user.Info.GetExtra() method from the authenticator.",
      },
      groups: strings,
      nonResourceAttributes: { ref: AUTHZ + "NonResourceAttributes" },
      resourceAttributes: { ref: AUTHZ + "ResourceAttributes" },
      uid: s(),
      user: s("User is the user you're testing for."),
    },
  },
  [AUTHZ + "SelfSubjectRulesReviewSpec"]: {
    description: "SelfSubjectRulesReviewSpec defines the specification for SelfSubjectRulesReview.",
    properties: { namespace: s("Namespace to evaluate rules for. Required.") },
  },
  [AUTHZ + "ResourceRule"]: {
    description:
      "ResourceRule is the list of actions the subject is allowed to perform on resources. The list ordering isn't significant, may contain duplicates, and possibly be incomplete.",
    properties: { apiGroups: strings, resourceNames: strings, resources: strings, verbs: strings },
    required: ["verbs"],
  },
  [AUTHZ + "NonResourceRule"]: {
    description: "NonResourceRule holds information that describes a rule for the non-resource",
    properties: { nonResourceURLs: strings, verbs: strings },
    required: ["verbs"],
  },
  [AUTHZ + "SubjectRulesReviewStatus"]: {
    description:
      "SubjectRulesReviewStatus contains the result of a rules check. This check can be incomplete depending on the set of authorizers the server is configured with and any errors experienced during evaluation.",
    properties: {
      evaluationError: s(),
      incomplete: { t: "boolean" },
      nonResourceRules: { list: { ref: AUTHZ + "NonResourceRule" }, listType: "atomic" },
      resourceRules: { list: { ref: AUTHZ + "ResourceRule" }, listType: "atomic" },
    },
    required: ["resourceRules", "nonResourceRules", "incomplete"],
  },
  [AUTHZ + "SelfSubjectAccessReview"]: review(
    "SelfSubjectAccessReview",
    "SelfSubjectAccessReview checks whether or the current user can perform an action.",
    "SelfSubjectAccessReviewSpec",
    "SubjectAccessReviewStatus",
  ),
  [AUTHZ + "SubjectAccessReview"]: review(
    "SubjectAccessReview",
    "SubjectAccessReview checks whether or not a user or group can perform an action.",
    "SubjectAccessReviewSpec",
    "SubjectAccessReviewStatus",
  ),
  [AUTHZ + "LocalSubjectAccessReview"]: review(
    "LocalSubjectAccessReview",
    "LocalSubjectAccessReview checks whether or not a user or group can perform an action in a given namespace.",
    "SubjectAccessReviewSpec",
    "SubjectAccessReviewStatus",
  ),
  [AUTHZ + "SelfSubjectRulesReview"]: review(
    "SelfSubjectRulesReview",
    "SelfSubjectRulesReview enumerates the set of actions the current user can perform within a namespace.",
    "SelfSubjectRulesReviewSpec",
    "SubjectRulesReviewStatus",
  ),
};
