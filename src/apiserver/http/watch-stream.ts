import { setLongTimeout, type LongTimer } from "../../common/long-timer.js";
import { isAtrestError } from "../../common/errors.js";
import type { ResponseFormat } from "../media.js";
import type { WatchEventType, WatchHandle } from "../registry/index.js";
import { statusFromError } from "../status.js";
import { metaOf, type KubeObject } from "../../kube-object/types.js";
import type { HandlerContext } from "./context.js";
import { watchOptionsOf } from "./query.js";
import type { Request } from "./request.js";
import { finish, tableOf } from "./respond.js";
import type { ResourceInfo } from "../resources.js";
import type { Route } from "./route.js";

/**
 * A watch response: a chunked stream of `{"type","object"}` lines, ended by the client, the timeout
 * (`?timeoutSeconds=` or the server's), an ERROR event, or shutdown; BOOKMARKs when asked for. Events
 * the registry sends before the headers are out (the initial ADDED list) wait in order.
 */
export async function serveWatch(
  ctx: HandlerContext,
  r: Request,
  route: Route,
  format: ResponseFormat,
): Promise<void> {
  const { info, namespace, name } = route;
  const q = r.query;
  const options = watchOptionsOf(q);
  const timeoutSeconds = options.timeoutSeconds;
  // sendInitialEvents=true: the current state first (as a watch without a resourceVersion sends it);
  // false: nothing before the changes after the resourceVersion, or after now when there is none.
  let resourceVersion = options.resourceVersion;
  if (options.sendInitialEvents === true) resourceVersion = undefined;
  else if (
    options.sendInitialEvents === false &&
    (resourceVersion === undefined || resourceVersion === "" || resourceVersion === "0")
  )
    resourceVersion = (await ctx.registry.list(info, namespace, { limit: 1 })).resourceVersion;
  let fieldSelector = q.get("fieldSelector") ?? undefined;
  if (name !== undefined)
    fieldSelector = [fieldSelector, `metadata.name=${name}`]
      .filter((x) => x !== undefined && x !== "")
      .join(",");
  let headersSent = false;
  let first = true;
  let ended = false;
  const pending: string[] = [];
  const writeEvent = (type: string, object: unknown): void => {
    const line = JSON.stringify({ type, object }) + "\n";
    if (!headersSent) pending.push(line);
    else r.res.write(line);
  };
  const state: { watch?: WatchHandle | undefined; timer?: LongTimer } = {};
  const end = (): void => {
    if (ended) return;
    ended = true;
    state.timer?.clear();
    ctx.openWatches.delete(end);
    void state.watch?.cancel().catch(() => undefined);
    if (headersSent) {
      if (!r.res.writableEnded) r.res.end();
      finish(ctx, r);
    }
  };
  const sink = {
    event: (type: WatchEventType, object: KubeObject): void => {
      if (ended) return;
      if (format.kind === "table") {
        writeEvent(
          type,
          tableOf(ctx, info, [object], { resourceVersion: metaOf(object).resourceVersion ?? "" }, q, !first),
        );
        first = false;
      } else writeEvent(type, object);
    },
    error: (err: Parameters<typeof statusFromError>[0]): void => {
      if (ended) return;
      writeEvent("ERROR", statusFromError(err));
      end();
    },
  };
  state.watch = await ctx.registry
    .watch(
      info,
      namespace,
      {
        ...(resourceVersion !== undefined ? { resourceVersion } : {}),
        ...(q.get("labelSelector") !== null ? { labelSelector: q.get("labelSelector") ?? "" } : {}),
        ...(fieldSelector !== undefined ? { fieldSelector } : {}),
      },
      sink,
    )
    .catch((err: unknown) => {
      // kube answers 200 and an ERROR event (410 Expired) for a compacted resourceVersion.
      if (isAtrestError(err, "gone")) {
        sink.error(err);
        return undefined;
      }
      throw err;
    });
  r.code = 200;
  r.res.writeHead(200, {
    "Content-Type": "application/json",
    "Cache-Control": "no-cache, private",
    "Transfer-Encoding": "chunked",
  });
  headersSent = true;
  r.res.flushHeaders();
  const initialEvents = pending.length;
  for (const line of pending.splice(0, initialEvents)) r.res.write(line);
  if (options.sendInitialEvents === true && options.allowWatchBookmarks && state.watch !== undefined)
    // kube's marker that the initial state is complete: a BOOKMARK at the state's resourceVersion.
    r.res.write(
      JSON.stringify({
        type: "BOOKMARK",
        object: {
          kind: info.kind,
          apiVersion: info.apiVersion,
          metadata: {
            resourceVersion: String(state.watch.progressRevision()),
            annotations: { "k8s.io/initial-events-end": "true" },
          },
        },
      }) + "\n",
    );
  for (const line of pending.splice(0)) r.res.write(line);
  if (ended || state.watch === undefined) {
    ended = true;
    void state.watch?.cancel().catch(() => undefined);
    if (!r.res.writableEnded) r.res.end();
    finish(ctx, r);
    return;
  }
  r.res.on("close", end);
  ctx.openWatches.add(end);
  const ms = timeoutSeconds !== undefined && timeoutSeconds > 0 ? timeoutSeconds * 1000 : ctx.watchTimeoutMs;
  // timeoutSeconds past 2^31 ms must not end the watch at once (as Node's own setTimeout would).
  state.timer = setLongTimeout(end, ms).unref();
  if (options.allowWatchBookmarks && ctx.watchBookmarkIntervalMs > 0) {
    startBookmarks(ctx, r, info, state.watch, () => ended);
  }
}

/** kube's BOOKMARK: only the kind and the resourceVersion everything before has been sent for. */
function startBookmarks(
  ctx: HandlerContext,
  r: Request,
  info: ResourceInfo,
  handle: WatchHandle,
  ended: () => boolean,
): void {
  let lastBookmark = -1;
  const bookmarks = setInterval(() => {
    const rv = handle.progressRevision();
    if (ended() || rv === lastBookmark) return;
    lastBookmark = rv;
    r.res.write(
      JSON.stringify({
        type: "BOOKMARK",
        object: { kind: info.kind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(rv) } },
      }) + "\n",
    );
  }, ctx.watchBookmarkIntervalMs);
  bookmarks.unref();
  r.res.on("close", () => clearInterval(bookmarks));
}
