import { isPlainObject, type KubeObject } from "../../kube-object/types.js";
import { conditionsOf, SVM_GROUP, targetOf } from "../svm/api.js";
import { v1alpha1Conversion, v1beta1Conversion } from "../svm/conversion.js";
import { validateStorageVersionMigration } from "../svm/validation.js";
import { ageColumn, nameColumn } from "../table.js";
import { defineResource, type GroupVersion, type TableColumn } from "./define.js";

/**
 * storagemigration.k8s.io: StorageVersionMigrations, served as kube 1.30–1.34 serve v1alpha1 and as
 * 1.35 serves v1beta1 (the preferred version), stored once (in v1beta1's form) under
 * `/registry/storageversionmigrations/<name>`. Cluster-scoped; the status belongs to the migrator.
 */

const column = (name: string, description: string, cell: TableColumn["cell"], priority = 0): TableColumn => ({
  name,
  type: "string",
  format: "",
  description,
  priority,
  cell,
});

function phaseOf(obj: KubeObject): string {
  for (const type of ["Failed", "Succeeded", "Running"])
    if (conditionsOf(obj).some((c) => c.type === type && c.status === "True")) return type;
  return "Pending";
}

function progressOf(obj: KubeObject): string {
  const p = isPlainObject(obj.status) && isPlainObject(obj.status.progress) ? obj.status.progress : undefined;
  if (p === undefined) return "";
  const done = Number(p.rewritten ?? 0) + Number(p.unchanged ?? 0) + Number(p.skipped ?? 0);
  return `${done}/${Number(p.total ?? 0)}`;
}

const columns: readonly TableColumn[] = [
  nameColumn,
  column("Resource", "The resource that is being migrated.", (o) => {
    const t = targetOf(o);
    return t.group === "" ? t.resource : `${t.resource}.${t.group}`;
  }),
  column("Status", "Pending, Running, Succeeded or Failed.", phaseOf),
  column("Progress", "atrest: objects handled of those stored when the migration began.", progressOf),
  ageColumn,
];

function svmResource(version: "v1alpha1" | "v1beta1", stored: boolean) {
  return defineResource({
    group: SVM_GROUP,
    version,
    resource: "storageversionmigrations",
    singularName: "storageversionmigration",
    kind: "StorageVersionMigration",
    namespaced: false,
    schema: `io.k8s.api.storagemigration.${version}.StorageVersionMigration`,
    nameRule: "subdomain",
    columns,
    validate: validateStorageVersionMigration(version),
    statusSubresource: true,
    ...(stored ? {} : { conversion: version === "v1alpha1" ? v1alpha1Conversion : v1beta1Conversion }),
  });
}

function svm(version: "v1alpha1" | "v1beta1"): GroupVersion {
  return { group: SVM_GROUP, version, resources: [svmResource(version, false)] };
}

/**
 * The objects as stored (v1beta1's form plus what a v1alpha1 client set): not served; the migrator
 * reads and writes them through it, so a v1alpha1 `spec.resource.version` is seen.
 */
export const STORED_STORAGEVERSIONMIGRATIONS = svmResource("v1beta1", true);

export const STORAGEMIGRATION_V1BETA1: GroupVersion = svm("v1beta1");
export const STORAGEMIGRATION_V1ALPHA1: GroupVersion = svm("v1alpha1");
