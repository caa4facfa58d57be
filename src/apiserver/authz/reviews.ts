import type { Clock } from "../../common/clock.js";
import { isPlainObject, metaOf, rfc3339, type KubeObject } from "../../kube-object/types.js";
import type { UserInfo } from "../authn.js";
import type { ResourceInfo } from "../resources.js";
import { badRequest, invalid, type FieldError } from "../status.js";
import type { Attributes, Authorizer, RuleResolver } from "./types.js";

/**
 * authorization.k8s.io/v1 access reviews, answered as kube's REST handlers answer them
 * (pkg/registry/authorization/*): SelfSubjectAccessReview ("can I?" — `kubectl auth can-i`),
 * SelfSubjectRulesReview (`kubectl auth can-i --list`), SubjectAccessReview and LocalSubjectAccessReview
 * ("can they?"); authentication.k8s.io/v1 SelfSubjectReview ("who am I?" — `kubectl auth whoami`).
 * Nothing is stored.
 */

const GROUP = "authorization.k8s.io";
const str = (v: unknown): string => (typeof v === "string" ? v : "");

export interface ReviewContext {
  readonly authorizer: Authorizer;
  readonly ruleResolver: RuleResolver;
  readonly clock: Clock;
}

/** The NonResourceAttributes value as field.Error prints it (Go's %#v of the struct). */
function nonResourceGoSyntax(nra: Record<string, unknown>): { goSyntax: string } {
  return {
    goSyntax: `authorization.NonResourceAttributes{Path:${JSON.stringify(str(nra.path))}, Verb:${JSON.stringify(str(nra.verb))}}`,
  };
}

/** kube's ValidateSelfSubjectAccessReviewSpec / ValidateSubjectAccessReviewSpec. */
function validateAttributesSpec(spec: Record<string, unknown>): FieldError[] {
  const errs: FieldError[] = [];
  const ra = spec.resourceAttributes;
  const nra = spec.nonResourceAttributes;
  if (isPlainObject(ra) && isPlainObject(nra))
    errs.push({
      field: "spec.nonResourceAttributes",
      type: "FieldValueInvalid",
      value: nonResourceGoSyntax(nra),
      detail: "cannot be specified in combination with resourceAttributes",
    });
  if (!isPlainObject(ra) && !isPlainObject(nra))
    errs.push({
      field: "spec.resourceAttributes",
      type: "FieldValueInvalid",
      value: "null",
      detail: "exactly one of nonResourceAttributes or resourceAttributes must be specified",
    });
  return errs;
}

/** kube's ResourceAttributesFrom / NonResourceAttributesFrom. */
function attributesFrom(user: UserInfo, spec: Record<string, unknown>): Attributes {
  const ra = spec.resourceAttributes;
  if (isPlainObject(ra))
    return {
      user,
      verb: str(ra.verb),
      isResourceRequest: true,
      path: "",
      namespace: str(ra.namespace),
      apiGroup: str(ra.group),
      apiVersion: str(ra.version) === "" ? "*" : str(ra.version),
      resource: str(ra.resource),
      subresource: str(ra.subresource),
      name: str(ra.name),
    };
  const nra = isPlainObject(spec.nonResourceAttributes) ? spec.nonResourceAttributes : {};
  return {
    user,
    verb: str(nra.verb),
    isResourceRequest: false,
    path: str(nra.path),
    namespace: "",
    apiGroup: "",
    apiVersion: "",
    resource: "",
    subresource: "",
    name: "",
  };
}

function accessStatus(ctx: ReviewContext, attrs: Attributes): Record<string, unknown> {
  const d = ctx.authorizer.authorize(attrs);
  const status: Record<string, unknown> = { allowed: d.decision === "Allow" };
  if (d.decision === "Deny") status.denied = true;
  if (d.reason !== "") status.reason = d.reason;
  if (d.error !== undefined) status.evaluationError = d.error;
  return status;
}

function reviewed(
  obj: KubeObject,
  info: ResourceInfo,
  spec: unknown,
  status: Record<string, unknown>,
): KubeObject {
  return { kind: info.kind, apiVersion: info.apiVersion, metadata: metaOf(obj), spec, status };
}

function specOf(info: ResourceInfo, obj: KubeObject): Record<string, unknown> {
  if (!isPlainObject(obj.spec)) throw badRequest(`not a ${info.kind}: the spec is missing`);
  return obj.spec;
}

/** Answers a POST of one of the reviews by `user` (`namespace`: the URL's, for the local review). */
export function answerReview(
  ctx: ReviewContext,
  info: ResourceInfo,
  obj: KubeObject,
  user: UserInfo,
  namespace: string | undefined,
): KubeObject {
  switch (info.kind) {
    case "SelfSubjectAccessReview": {
      const spec = specOf(info, obj);
      const errs = validateAttributesSpec(spec);
      if (errs.length > 0) throw invalid(info.kind, "", errs, GROUP);
      return reviewed(obj, info, spec, accessStatus(ctx, attributesFrom(user, spec)));
    }
    case "SubjectAccessReview":
    case "LocalSubjectAccessReview": {
      const spec = specOf(info, obj);
      const errs = validateAttributesSpec(spec);
      const subject = str(spec.user);
      const groups = Array.isArray(spec.groups)
        ? spec.groups.filter((g): g is string => typeof g === "string")
        : [];
      if (subject === "" && groups.length === 0)
        errs.push({
          field: "spec.user",
          type: "FieldValueInvalid",
          value: subject,
          detail: "at least one of user or group must be specified",
        });
      if (info.kind === "LocalSubjectAccessReview") {
        const ns = metaOf(obj).namespace ?? namespace ?? "";
        if (isPlainObject(spec.resourceAttributes) && str(spec.resourceAttributes.namespace) !== ns)
          errs.push({
            field: "spec.resourceAttributes.namespace",
            type: "FieldValueInvalid",
            value: str(spec.resourceAttributes.namespace),
            detail: "must match metadata.namespace",
          });
        if (isPlainObject(spec.nonResourceAttributes))
          errs.push({
            field: "spec.nonResourceAttributes",
            type: "FieldValueInvalid",
            value: nonResourceGoSyntax(spec.nonResourceAttributes),
            detail: "disallowed on this kind of request",
          });
      }
      if (errs.length > 0) throw invalid(info.kind, "", errs, GROUP);
      const who: UserInfo = { name: subject, uid: str(spec.uid), groups };
      return reviewed(obj, info, spec, accessStatus(ctx, attributesFrom(who, spec)));
    }
    case "SelfSubjectRulesReview": {
      const spec = isPlainObject(obj.spec) ? obj.spec : {};
      const ns = str(spec.namespace);
      if (ns === "") throw badRequest("no namespace on request");
      const rules = ctx.ruleResolver.rulesFor(user, ns);
      const status: Record<string, unknown> = {
        resourceRules: rules.resourceRules.map((r) => {
          const out: Record<string, unknown> = { verbs: [...r.verbs] };
          if (r.apiGroups.length > 0) out.apiGroups = [...r.apiGroups];
          if (r.resources.length > 0) out.resources = [...r.resources];
          if (r.resourceNames.length > 0) out.resourceNames = [...r.resourceNames];
          return out;
        }),
        nonResourceRules: rules.nonResourceRules.map((r) => ({
          verbs: [...r.verbs],
          ...(r.nonResourceURLs.length > 0 ? { nonResourceURLs: [...r.nonResourceURLs] } : {}),
        })),
        incomplete: rules.incomplete,
      };
      if (rules.error !== undefined) status.evaluationError = rules.error;
      // kube answers with an empty spec.
      return reviewed(obj, info, {}, status);
    }
    case "SelfSubjectReview": {
      // kube's selfsubjectreview REST: the requesting (or impersonated) user, stamped with the time.
      const userInfo: Record<string, unknown> = { username: user.name };
      if (user.uid !== "") userInfo.uid = user.uid;
      if (user.groups.length > 0) userInfo.groups = [...user.groups];
      return {
        kind: info.kind,
        apiVersion: info.apiVersion,
        metadata: { creationTimestamp: rfc3339(ctx.clock.now()) },
        status: { userInfo },
      };
    }
    default:
      throw badRequest(`${info.kind} is not a review`);
  }
}
