import { isPlainObject, type KubeObject } from "../../kube-object/types.js";
import { STORAGE_API_VERSION, SVM_GROUP } from "./api.js";

/**
 * StorageVersionMigration between its served versions and the stored form, as kube 1.35 converts
 * v1alpha1 (pkg/apis/storagemigration/v1alpha1/conversion.go): MigrationCondition.lastUpdateTime is
 * metav1.Condition.lastTransitionTime. Unlike 1.35, the stored form keeps the version and continue
 * token a v1alpha1 client set, so v1alpha1 reads give them back as 1.30–1.34 did.
 */

type Conditions = Record<string, unknown>[];

function mapConditions(status: unknown, from: string, to: string): unknown {
  if (!isPlainObject(status) || !Array.isArray(status.conditions)) return status;
  const conditions = (status.conditions as unknown[]).map((c) => {
    if (!isPlainObject(c)) return c;
    const { [from]: time, observedGeneration: _g, ...rest } = c;
    return time === undefined ? rest : { ...rest, [to]: time };
  }) as Conditions;
  return { ...status, conditions };
}

function specWith(
  obj: KubeObject,
  edit: (spec: Record<string, unknown>, resource: Record<string, unknown>) => void,
): KubeObject {
  const spec: Record<string, unknown> = isPlainObject(obj.spec) ? { ...obj.spec } : {};
  const resource: Record<string, unknown> = isPlainObject(spec.resource) ? { ...spec.resource } : {};
  edit(spec, resource);
  if (Object.keys(resource).length > 0 || isPlainObject(obj.spec)) spec.resource = resource;
  const out: KubeObject = { ...obj };
  if (Object.keys(spec).length > 0 || obj.spec !== undefined) out.spec = spec;
  return out;
}

export const v1beta1Conversion = {
  toStorage(obj: KubeObject): KubeObject {
    return { ...obj, apiVersion: STORAGE_API_VERSION };
  },
  fromStorage(obj: KubeObject): KubeObject {
    const out = specWith(obj, (spec, resource) => {
      delete resource.version;
      delete spec.continueToken;
    });
    return { ...out, apiVersion: STORAGE_API_VERSION };
  },
};

export const v1alpha1Conversion = {
  toStorage(obj: KubeObject): KubeObject {
    const out: KubeObject = { ...obj, apiVersion: STORAGE_API_VERSION };
    if (obj.status !== undefined)
      out.status = mapConditions(obj.status, "lastUpdateTime", "lastTransitionTime");
    return out;
  },
  fromStorage(obj: KubeObject): KubeObject {
    const out: KubeObject = { ...obj, apiVersion: `${SVM_GROUP}/v1alpha1` };
    if (obj.status !== undefined)
      out.status = mapConditions(obj.status, "lastTransitionTime", "lastUpdateTime");
    return out;
  },
};
