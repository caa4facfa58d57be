import { decodeJson } from "../../common/json-decode.js";
import type { DeleteOptions } from "../registry/index.js";
import { badRequest, invalid, type FieldError } from "../status.js";
import { isPlainObject } from "../../kube-object/types.js";
import type { HandlerContext } from "./context.js";
import { readBody, type Request } from "./request.js";
import { boolParam, intParam } from "./query.js";

/**
 * A DELETE's options, as kube's delete handler reads them: the DeleteOptions body when there is one,
 * the query parameters (dryRun, gracePeriodSeconds, propagationPolicy, orphanDependents) otherwise;
 * then kube's ValidateDeleteOptions. Grace periods and propagation policies are accepted and checked —
 * the served kinds have no graceful deletion or dependents.
 */
export async function deleteOptionsOf(ctx: HandlerContext, r: Request): Promise<DeleteOptions> {
  const body = await readBody(ctx, r);
  const q = r.query;
  let dryRun: string[];
  let propagationPolicy: unknown;
  let orphanDependents: unknown;
  let preconditions: DeleteOptions["preconditions"];
  if (body.length === 0) {
    dryRun = q.getAll("dryRun");
    intParam(q, "gracePeriodSeconds");
    propagationPolicy = q.get("propagationPolicy") ?? undefined;
    orphanDependents = boolParam(q, "orphanDependents");
  } else {
    let doc: unknown;
    try {
      doc = decodeJson(body);
    } catch (err) {
      throw badRequest(
        `DeleteOptions in version "v1" cannot be handled as a DeleteOptions: couldn't get version/kind; json parse error: ${(err as Error).message}`,
      );
    }
    if (!isPlainObject(doc))
      throw badRequest('DeleteOptions in version "v1" cannot be handled as a DeleteOptions: not an object');
    dryRun = Array.isArray(doc.dryRun) ? doc.dryRun.map(String) : [];
    if (
      doc.gracePeriodSeconds !== undefined &&
      doc.gracePeriodSeconds !== null &&
      !Number.isInteger(doc.gracePeriodSeconds)
    )
      throw badRequest(
        'DeleteOptions in version "v1" cannot be handled as a DeleteOptions: json: cannot unmarshal into Go struct field DeleteOptions.gracePeriodSeconds of type int64',
      );
    propagationPolicy = doc.propagationPolicy ?? undefined;
    orphanDependents = doc.orphanDependents ?? undefined;
    if (isPlainObject(doc.preconditions)) {
      const p: { uid?: string; resourceVersion?: string } = {};
      if (typeof doc.preconditions.uid === "string") p.uid = doc.preconditions.uid;
      if (typeof doc.preconditions.resourceVersion === "string")
        p.resourceVersion = doc.preconditions.resourceVersion;
      preconditions = p;
    }
  }
  const errs: FieldError[] = [];
  if (orphanDependents !== undefined && propagationPolicy !== undefined)
    errs.push({
      field: "propagationPolicy",
      type: "FieldValueInvalid",
      value: propagationPolicy,
      detail: "orphanDependents and deletionPropagation cannot be both set",
    });
  const policies = ["Foreground", "Background", "Orphan"];
  if (
    propagationPolicy !== undefined &&
    !(typeof propagationPolicy === "string" && policies.includes(propagationPolicy))
  )
    errs.push({
      field: "propagationPolicy",
      type: "FieldValueNotSupported",
      value: propagationPolicy,
      detail: `supported values: ${[...policies, "nil"].map((v) => JSON.stringify(v)).join(", ")}`,
    });
  if (dryRun.some((v) => v !== "All"))
    errs.push({
      field: "dryRun",
      type: "FieldValueNotSupported",
      value: { goSyntax: `[]string{${dryRun.map((v) => JSON.stringify(v)).join(", ")}}` },
      detail: 'supported values: "All"',
    });
  if (errs.length > 0) throw invalid("DeleteOptions", "", errs, "meta.k8s.io");
  return { dryRun: dryRun.length > 0, ...(preconditions !== undefined ? { preconditions } : {}) };
}
