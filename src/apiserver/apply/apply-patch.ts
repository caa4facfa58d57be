import { decodeYaml } from "../../common/yaml-decode.js";
import { isPlainObject, type KubeObject } from "../../kube-object/types.js";
import type { FieldValidation } from "../media.js";
import { badRequest } from "../status.js";

/** The server-side apply media type (kube's types.ApplyYAMLPatchType). */
export const APPLY_PATCH_TYPE = "application/apply-patch+yaml";

/**
 * The body of an apply PATCH: YAML (JSON is YAML too) read as kube's sigs.k8s.io/yaml reads it (YAML
 * 1.1 scalars, the last of duplicated keys wins), into an object. With fieldValidation Strict a
 * duplicated key is an error and with Warn a warning, as kube's applyPatcher checks with UnmarshalStrict.
 */
export function decodeApplyPatch(
  body: Buffer,
  validation: FieldValidation,
): { config: KubeObject; warnings: string[] } {
  const text = body.toString("utf8");
  let parsed: unknown;
  try {
    parsed = decodeYaml(text, { version: "1.1", uniqueKeys: false, maxAliasCount: 100 });
  } catch (err) {
    throw badRequest(`error decoding YAML: ${firstLine(err)}`);
  }
  if (parsed === null || parsed === undefined) parsed = {};
  if (!isPlainObject(parsed))
    throw badRequest(
      `error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal ${Array.isArray(parsed) ? "array" : typeof parsed} into Go value of type map[string]interface {}`,
    );
  const warnings: string[] = [];
  if (validation !== "Ignore") {
    try {
      decodeYaml(text, { version: "1.1", uniqueKeys: true, maxAliasCount: 100 });
    } catch (err) {
      if (validation === "Strict") throw badRequest(`error strict decoding YAML: ${firstLine(err)}`);
      warnings.push(firstLine(err));
    }
  }
  return { config: parsed, warnings };
}

function firstLine(err: unknown): string {
  return ((err as Error).message ?? String(err)).split("\n")[0] ?? "";
}
