import { useEffect, useState } from "react";

/**
 * Client-side navigation under /console/: the server answers every page path with the same app
 * (src/control-plane/console/pages.ts, APP_PAGES), and the app picks the page from the path.
 */
export const BASE = "/console";

export function navigate(to: string): void {
  history.pushState(null, "", to);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function useLocation(): { path: string; search: URLSearchParams } {
  const read = () => ({ path: location.pathname, search: new URLSearchParams(location.search) });
  const [loc, setLoc] = useState(read);
  useEffect(() => {
    const on = () => setLoc(read());
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  return loc;
}

/** `pattern` like "/kms/keys/:keyId" against a path below BASE; the named parts, or undefined. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split("/").filter(Boolean);
  const got = path.slice(BASE.length).split("/").filter(Boolean);
  if (want.length !== got.length) return undefined;
  const out: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = decodeURIComponent(got[i]!);
    if (w.startsWith(":")) out[w.slice(1)] = g;
    else if (w !== g) return undefined;
  }
  return out;
}
