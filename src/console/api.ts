/**
 * The console's JSON API (src/control-plane/console). Every state-changing call carries the session's
 * CSRF token; a 401 sends the user back to sign-in. Errors keep the service's own code and message
 * (e.g. Rejected.KeyInUse) so a refusal is shown as the API gave it.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let session: Promise<SessionInfo> | undefined;

/** The session (asked once per page load); writes wait for its CSRF token, reads need not. */
export function loadSession(): Promise<SessionInfo> {
  return (session ??= api<SessionInfo>("GET", "/session"));
}

export const API_BASE = "/console/api";

export async function api<T>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<T> {
  const csrfToken = method === "GET" || path === "/signin" ? "" : (await loadSession()).csrfToken;
  const res = await fetch(`${API_BASE}${path}`, {
    method,
    credentials: "same-origin",
    headers:
      method === "GET"
        ? { accept: "application/json" }
        : { "content-type": "application/json", "x-csrf-token": csrfToken },
    ...(method === "GET" ? {} : { body: JSON.stringify(body ?? {}) }),
  });
  const text = await res.text();
  let json: unknown = {};
  try {
    json = text === "" ? {} : JSON.parse(text);
  } catch {
    throw new ApiError(res.status, "BadResponse", `HTTP ${res.status}`);
  }
  if (!res.ok) {
    const e = json as { code?: string; message?: string };
    if (res.status === 401 && path !== "/signin") {
      location.assign(`/console/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
    }
    throw new ApiError(res.status, e.code ?? `HTTP${res.status}`, e.message ?? `HTTP ${res.status}`);
  }
  return json as T;
}

export interface Identity {
  accountId: string;
  arn: string;
  principalId: string;
  identityType: string;
  displayName: string;
}

export interface SessionInfo {
  identity: Identity;
  csrfToken: string;
  regionId: string;
  /** Whether the console runs on the control plane (the Clusters pages). */
  clusters: boolean;
}
