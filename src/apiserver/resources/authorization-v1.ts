import { defineResource, type GroupVersion } from "./define.js";

/**
 * authorization.k8s.io/v1: the access reviews. Nothing is stored; a POST is answered with the review's
 * status (what `kubectl auth can-i` asks).
 */

const GROUP = "authorization.k8s.io";
const AUTHZ = "io.k8s.api.authorization.v1.";

const review = (resource: string, kind: string, namespaced: boolean) =>
  defineResource({
    group: GROUP,
    version: "v1",
    resource,
    singularName: "",
    kind,
    namespaced,
    schema: AUTHZ + kind,
    verbs: ["create"],
    storageSegment: null,
    nameRule: "path-segment",
  });

export const AUTHORIZATION_V1: GroupVersion = {
  group: GROUP,
  version: "v1",
  resources: [
    review("localsubjectaccessreviews", "LocalSubjectAccessReview", true),
    review("selfsubjectaccessreviews", "SelfSubjectAccessReview", false),
    review("selfsubjectrulesreviews", "SelfSubjectRulesReview", false),
    review("subjectaccessreviews", "SubjectAccessReview", false),
  ],
};
