import { APPLY_PATCH_TYPE, decodeApplyPatch } from "../apply/index.js";
import { checkPatchedObject, decodeBody, parseFieldValidation, type ResponseFormat } from "../media.js";
import { applyPatch, patchTypeOf } from "../patch.js";
import { successStatus } from "../status.js";
import { isPlainObject, metaOf, type KubeObject } from "../../kube-object/types.js";
import type { UserInfo } from "../authn.js";
import type { HandlerContext } from "./context.js";
import { deleteOptionsOf } from "./delete-options.js";
import { listQueryOf, selectorQueryOf } from "./query.js";
import { readBody, type Request } from "./request.js";
import { sendObject, stripTypeMeta, tableOf } from "./respond.js";
import type { ResourceVerb, Route } from "./route.js";
import { serveWatch } from "./watch-stream.js";
import { applyOptionsOf, writeOptionsOf } from "./write-options.js";

/** Each resource verb: parse what it takes from the request, ask the registry, answer. */
export async function serveVerb(
  ctx: HandlerContext,
  r: Request,
  user: UserInfo,
  verb: ResourceVerb,
  route: Route,
  format: ResponseFormat,
): Promise<void> {
  const { info, namespace } = route;
  const name = route.name ?? "";
  const q = r.query;
  // RBAC objects: kube's escalation checks on writes, and the authorizer caught up before answering.
  const guard = ctx.authz.writeGuard(info, user, namespace, name);
  const settle = async (obj: KubeObject, deleted: boolean, dryRun: boolean): Promise<void> => {
    if (guard !== undefined && !dryRun) await guard.settle(obj, deleted);
  };
  switch (verb) {
    case "get": {
      const obj = await ctx.registry.get(info, namespace, name);
      const table = (): KubeObject =>
        tableOf(ctx, info, [obj], { resourceVersion: metaOf(obj).resourceVersion ?? "" }, q);
      return sendObject(ctx, r, 200, format.kind === "table" ? table() : obj, format);
    }
    case "list": {
      const page = await ctx.registry.list(info, namespace, listQueryOf(q));
      const listMeta: Record<string, unknown> = { resourceVersion: page.resourceVersion };
      if (page.continueToken !== undefined) listMeta.continue = page.continueToken;
      if (format.kind === "table")
        return sendObject(ctx, r, 200, tableOf(ctx, info, page.items, listMeta, q), format);
      const items = format.kind === "protobuf" ? page.items : page.items.map(stripTypeMeta);
      return sendObject(
        ctx,
        r,
        200,
        { kind: info.listKind, apiVersion: info.apiVersion, metadata: listMeta, items },
        format,
      );
    }
    case "watch":
      return serveWatch(ctx, r, route, format);
    case "create":
    case "update": {
      const body = await readBody(ctx, r);
      const decoded = decodeBody(
        r.req.headers["content-type"],
        body,
        info.kind,
        parseFieldValidation(q.get("fieldValidation")),
        info.apiVersion,
      );
      const opts = {
        ...writeOptionsOf(r, verb === "create" ? "CreateOptions" : "UpdateOptions"),
        ...(guard !== undefined ? { admit: guard.admit } : {}),
      };
      if (verb === "create") {
        if (info.storageSegment === undefined) {
          // The access reviews: answered, not stored.
          const reviewed = ctx.authz.review(info, decoded.object, user, namespace);
          return sendObject(ctx, r, 201, reviewed, format, decoded.warnings);
        }
        const created = await ctx.registry.create(info, namespace, decoded.object, opts);
        await settle(created, false, opts.dryRun);
        return sendObject(ctx, r, 201, created, format, decoded.warnings);
      }
      const updated = await ctx.registry.update(info, namespace, name, decoded.object, opts);
      await settle(updated, false, opts.dryRun);
      return sendObject(ctx, r, 200, updated, format, decoded.warnings);
    }
    case "patch": {
      const contentType = r.req.headers["content-type"] ?? "";
      const patchType = patchTypeOf(contentType);
      const validation = parseFieldValidation(q.get("fieldValidation"));
      if (patchType === APPLY_PATCH_TYPE) {
        const opts = {
          ...applyOptionsOf(r),
          ...(guard !== undefined ? { admit: guard.admit } : {}),
        };
        const { config, warnings } = decodeApplyPatch(await readBody(ctx, r), validation);
        const applied = await ctx.registry.apply(info, namespace, name, config, opts);
        await settle(applied.object, false, opts.dryRun);
        return sendObject(ctx, r, applied.created ? 201 : 200, applied.object, format, warnings);
      }
      const opts = {
        ...writeOptionsOf(r, "PatchOptions"),
        ...(guard !== undefined ? { admit: guard.admit } : {}),
      };
      const body = await readBody(ctx, r);
      const warnings: string[] = [];
      const patched = await ctx.registry.patch(info, namespace, name, opts, (current) => {
        const rvBefore = metaOf(current).resourceVersion;
        const out = applyPatch(patchType, info.kind, current, body);
        const checked = checkPatchedObject(info.kind, out, validation, info.apiVersion);
        warnings.splice(0, warnings.length, ...checked.warnings);
        // An unchanged resourceVersion is not a precondition; a patched one is.
        if (isPlainObject(checked.object.metadata) && checked.object.metadata.resourceVersion === rvBefore)
          delete checked.object.metadata.resourceVersion;
        return checked.object;
      });
      await settle(patched, false, opts.dryRun);
      return sendObject(ctx, r, 200, patched, format, warnings);
    }
    case "delete": {
      const deleteOptions = await deleteOptionsOf(ctx, r);
      const deleted = await ctx.registry.delete(info, namespace, name, deleteOptions);
      await settle(deleted, true, deleteOptions.dryRun);
      if (info.returnDeletedObject === true) return sendObject(ctx, r, 200, deleted, format);
      const meta = metaOf(deleted);
      const status = successStatus({
        name: meta.name ?? "",
        kind: info.resource,
        ...(meta.uid !== undefined ? { uid: meta.uid } : {}),
      });
      return sendObject(ctx, r, 200, status as unknown as KubeObject, format);
    }
    case "deletecollection": {
      // DeleteOptions' preconditions name one object; for a collection only dryRun applies.
      const { dryRun } = await deleteOptionsOf(ctx, r);
      const page = await ctx.registry.deleteCollection(info, namespace, selectorQueryOf(q), { dryRun });
      for (const item of page.items) await settle(item, true, dryRun);
      const list = {
        kind: info.listKind,
        apiVersion: info.apiVersion,
        metadata: { resourceVersion: page.resourceVersion },
        items: page.items.map(stripTypeMeta),
      };
      return sendObject(ctx, r, 200, list, format);
    }
  }
}
