import type { UserInfo } from "../authn.js";
import { badRequest, forbidden } from "../status.js";
import {
  ALL_AUTHENTICATED,
  ALL_UNAUTHENTICATED,
  ANONYMOUS_USER,
  serviceAccountGroups,
  serviceAccountUsername,
  splitServiceAccountUsername,
} from "./service-accounts.js";
import { forbiddenMessage, type Attributes, type Authorizer } from "./types.js";

/**
 * kube's impersonation filter (k8s.io/apiserver/pkg/endpoints/filters/impersonation.go): the
 * Impersonate-User, -Group, -Uid and -Extra-<key> headers (`kubectl --as`, `--as-group`, `--as-uid`) make
 * the request act as someone else — when the requester may `impersonate` each of them: users, groups and
 * service accounts in the core group, uids and userextras in authentication.k8s.io.
 */

const USER = "impersonate-user";
const GROUP = "impersonate-group";
const UID = "impersonate-uid";
const EXTRA_PREFIX = "impersonate-extra-";

type Impersonation =
  | { readonly kind: "ServiceAccount"; readonly namespace: string; readonly name: string }
  | { readonly kind: "User" | "Group" | "UID"; readonly name: string }
  | { readonly kind: "UserExtra"; readonly key: string; readonly name: string };

/** Request headers by lowercase name, every occurrence kept (node's `headersDistinct`). */
export type DistinctHeaders = Readonly<Record<string, readonly string[] | undefined>>;

const values = (v: readonly string[] | undefined): string[] => (v ?? []).filter((x) => x !== "");

function requestsOf(headers: DistinctHeaders): Impersonation[] {
  const out: Impersonation[] = [];
  const user = values(headers[USER])[0];
  if (user !== undefined) {
    const sa = splitServiceAccountUsername(user);
    out.push(sa === undefined ? { kind: "User", name: user } : { kind: "ServiceAccount", ...sa });
  }
  for (const g of values(headers[GROUP])) out.push({ kind: "Group", name: g });
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith(EXTRA_PREFIX)) continue;
    let key = name.slice(EXTRA_PREFIX.length);
    try {
      key = decodeURIComponent(key);
    } catch {
      // kube keeps a key that does not unescape as it is
    }
    for (const v of values(value)) out.push({ kind: "UserExtra", key, name: v });
  }
  const uid = values(headers[UID])[0];
  if (uid !== undefined) out.push({ kind: "UID", name: uid });
  return out;
}

function attributesOf(requester: UserInfo, imp: Impersonation): Attributes {
  const base = {
    user: requester,
    verb: "impersonate",
    isResourceRequest: true,
    path: "",
    apiVersion: "v1",
    subresource: "",
    namespace: "",
    name: imp.name,
  };
  switch (imp.kind) {
    case "ServiceAccount":
      return { ...base, apiGroup: "", resource: "serviceaccounts", namespace: imp.namespace };
    case "User":
      return { ...base, apiGroup: "", resource: "users" };
    case "Group":
      return { ...base, apiGroup: "", resource: "groups" };
    case "UserExtra":
      return { ...base, apiGroup: "authentication.k8s.io", resource: "userextras", subresource: imp.key };
    case "UID":
      return { ...base, apiGroup: "authentication.k8s.io", resource: "uids" };
  }
}

/** Whether the request asks to impersonate anyone. */
export function hasImpersonation(headers: DistinctHeaders): boolean {
  return Object.keys(headers).some(
    (h) => h === USER || h === GROUP || h === UID || h.startsWith(EXTRA_PREFIX),
  );
}

/**
 * The user the request acts as: the requester without impersonation headers, else the impersonated user
 * once every part is authorized (403 with kube's message for the first that is not).
 */
export function impersonatedUser(
  headers: DistinctHeaders,
  requester: UserInfo,
  authorizer: Authorizer,
): UserInfo {
  if (!hasImpersonation(headers)) return requester;
  const requests = requestsOf(headers);
  const asUser = requests.find((r) => r.kind === "User" || r.kind === "ServiceAccount");
  if (asUser === undefined) {
    const what = requests.map((r) => `${r.kind} ${JSON.stringify(r.name)}`).join(", ");
    // kube answers this with a 500 and an unstructured text; a typed 400 says the same more usefully.
    throw badRequest(`requested ${what} without impersonating a user`);
  }
  const groupsSpecified = requests.some((r) => r.kind === "Group");
  let name = "";
  let uid = "";
  let groups: string[] = [];
  for (const r of requests) {
    const attrs = attributesOf(requester, r);
    switch (r.kind) {
      case "ServiceAccount":
        name = serviceAccountUsername(r.namespace, r.name);
        if (!groupsSpecified) groups = serviceAccountGroups(r.namespace);
        break;
      case "User":
        name = r.name;
        break;
      case "Group":
        groups.push(r.name);
        break;
      case "UID":
        uid = r.name;
        break;
      case "UserExtra":
        break;
    }
    const d = authorizer.authorize(attrs);
    if (d.decision !== "Allow") {
      throw forbidden(forbiddenMessage(attrs, d.reason), {
        name: attrs.name,
        ...(attrs.apiGroup !== "" ? { group: attrs.apiGroup } : {}),
        kind: attrs.resource,
      });
    }
  }
  if (name !== ANONYMOUS_USER) {
    if (!groups.includes(ALL_AUTHENTICATED) && !groups.includes(ALL_UNAUTHENTICATED))
      groups.push(ALL_AUTHENTICATED);
  } else if (!groups.includes(ALL_UNAUTHENTICATED)) groups.push(ALL_UNAUTHENTICATED);
  return { name, uid, groups };
}
