import { dns1123LabelErrors, dns1123SubdomainErrors } from "../validation.js";

/** Service-account identities as kube names them (k8s.io/apiserver/pkg/authentication/serviceaccount). */

export const SERVICE_ACCOUNT_USERNAME_PREFIX = "system:serviceaccount:";
export const ALL_SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts";
export const ALL_AUTHENTICATED = "system:authenticated";
export const ALL_UNAUTHENTICATED = "system:unauthenticated";
export const ANONYMOUS_USER = "system:anonymous";
export const SYSTEM_PRIVILEGED_GROUP = "system:masters";

export function serviceAccountUsername(namespace: string, name: string): string {
  return `${SERVICE_ACCOUNT_USERNAME_PREFIX}${namespace}:${name}`;
}

/** The groups every service account of a namespace is in. */
export function serviceAccountGroups(namespace: string): string[] {
  return [ALL_SERVICE_ACCOUNTS_GROUP, `${ALL_SERVICE_ACCOUNTS_GROUP}:${namespace}`];
}

/** kube's SplitUsername: the namespace and name of a valid service-account username, else undefined. */
export function splitServiceAccountUsername(
  username: string,
): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SERVICE_ACCOUNT_USERNAME_PREFIX)) return undefined;
  const parts = username.slice(SERVICE_ACCOUNT_USERNAME_PREFIX.length).split(":");
  if (parts.length !== 2) return undefined;
  const [namespace = "", name = ""] = parts;
  if (dns1123LabelErrors(namespace).length > 0 || dns1123SubdomainErrors(name).length > 0) return undefined;
  return { namespace, name };
}

/** kube's MatchesUsername: is `username` the service account `namespace`/`name`? */
export function matchesServiceAccount(namespace: string, name: string, username: string): boolean {
  return username === serviceAccountUsername(namespace, name);
}
