import { defineResource, type GroupVersion } from "./define.js";

/**
 * authentication.k8s.io/v1: SelfSubjectReview (`kubectl auth whoami`). Nothing is stored; a POST is
 * answered with the user the request was authenticated (or impersonated) as.
 */

const GROUP = "authentication.k8s.io";

export const AUTHENTICATION_V1: GroupVersion = {
  group: GROUP,
  version: "v1",
  resources: [
    defineResource({
      group: GROUP,
      version: "v1",
      resource: "selfsubjectreviews",
      singularName: "",
      kind: "SelfSubjectReview",
      namespaced: false,
      schema: "io.k8s.api.authentication.v1.SelfSubjectReview",
      verbs: ["create"],
      storageSegment: null,
      nameRule: "path-segment",
    }),
  ],
};
