import { META, s, typeMetaFields, type TypeSchema } from "./schema-fields.js";

/** authentication.k8s.io/v1's SelfSubjectReview as kube's OpenAPI describes it. */

const AUTHN = "io.k8s.api.authentication.v1.";

export const AUTHENTICATION_SCHEMAS: Readonly<Record<string, TypeSchema>> = {
  [AUTHN + "UserInfo"]: {
    description: "UserInfo holds the information about the user needed to implement the user.Info interface.",
    properties: {
      extra: { free: true, d: "Any additional information provided by the authenticator." },
      groups: { list: s(), listType: "atomic", d: "The names of groups this user is a part of." },
      uid: s("A unique value that identifies this user across time."),
      username: s("The name that uniquely identifies this user among all active users."),
    },
  },
  [AUTHN + "SelfSubjectReviewStatus"]: {
    description: "SelfSubjectReviewStatus is filled by the kube-apiserver and sent back to a user.",
    properties: {
      userInfo: { ref: AUTHN + "UserInfo", d: "User attributes of the user making this request." },
    },
  },
  [AUTHN + "SelfSubjectReview"]: {
    description:
      "SelfSubjectReview contains the user information that the kube-apiserver has about the user making this request.",
    properties: {
      ...typeMetaFields,
      metadata: { ref: META + "ObjectMeta", d: "Standard object's metadata." },
      status: {
        ref: AUTHN + "SelfSubjectReviewStatus",
        d: "Status is filled in by the server with the user attributes.",
      },
    },
    gvk: { group: "authentication.k8s.io", version: "v1", kind: "SelfSubjectReview" },
  },
};
