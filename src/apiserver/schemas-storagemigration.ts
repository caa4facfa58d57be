import { listSchema, META, s, typeMetaFields, type FieldSchema, type TypeSchema } from "./schema-fields.js";

/**
 * storagemigration.k8s.io as kube's OpenAPI describes it: v1alpha1 (kube 1.30–1.34: a
 * GroupVersionResource and MigrationConditions) and v1beta1 (kube 1.35: a GroupResource and
 * metav1.Conditions). `status.progress` is atrest's own addition (kube's SVM carries no counts):
 * declared here so strict decoding and `kubectl explain` know it; kube clients ignore the field.
 */

const GROUP = "storagemigration.k8s.io";
const V1ALPHA1 = "io.k8s.api.storagemigration.v1alpha1.";
const V1BETA1 = "io.k8s.api.storagemigration.v1beta1.";
/** atrest's extension types live under their own definition prefix. */
export const ATREST_PROGRESS = "dev.atrest.storagemigration.MigrationProgress";

const meta: FieldSchema = { ref: META + "ObjectMeta", d: "Standard object metadata." };
const int = (d: string): FieldSchema => ({ t: "integer", d });
const conditions = (ref: string): FieldSchema => ({
  list: { ref },
  mergeKey: "type",
  strategy: "merge",
  listType: "map",
  d: "The latest available observations of the migration's current state.",
});
const statusResourceVersion = s(
  "ResourceVersion to compare with the GC cache for performing the migration. This is the current resource version of given group, version and resource when kube-controller-manager first observes this StorageVersionMigration resource.",
);
const progress: FieldSchema = {
  ref: ATREST_PROGRESS,
  d: "atrest: how far the migration is (not part of Kubernetes' API; kube clients ignore it).",
};

export const STORAGEMIGRATION_SCHEMAS: Readonly<Record<string, TypeSchema>> = {
  [ATREST_PROGRESS]: {
    description:
      "atrest: the progress of a storage version migration, persisted with every checkpoint so that a restarted apiserver resumes it.",
    properties: {
      checkpoint: s(
        "The key (<namespace>/<name>, or <name>) after which the migration resumes: every object before it was handled.",
      ),
      lastError: s("The last retriable error the migration met and retried (empty when none)."),
      remaining: int(
        "Objects of the migration's total not handled yet (an estimate while it runs; 0 when done).",
      ),
      rewritten: int("Objects rewritten with the current storage encoding."),
      skipped: int(
        "Objects changed, deleted or re-created since the migration began: already stored anew, or gone.",
      ),
      total: int("Objects of the resource stored when the migration began."),
      unchanged: int("Objects already stored with the current encoding: nothing to write."),
      updateTime: { ref: META + "Time", d: "When the progress was last recorded." },
    },
  },
  [V1ALPHA1 + "GroupVersionResource"]: {
    description: "The names of the group, the version, and the resource.",
    properties: {
      group: s("The name of the group."),
      resource: s("The name of the resource."),
      version: s("The name of the version."),
    },
  },
  [V1ALPHA1 + "MigrationCondition"]: {
    description: "Describes the state of a migration at a certain point.",
    properties: {
      lastUpdateTime: { ref: META + "Time", d: "The last time this condition was updated." },
      message: s("A human readable message indicating details about the transition."),
      reason: s("The reason for the condition's last transition."),
      status: s("Status of the condition, one of True, False, Unknown."),
      type: s("Type of the condition."),
    },
    required: ["type", "status"],
  },
  [V1ALPHA1 + "StorageVersionMigrationSpec"]: {
    description: "Spec of the storage version migration.",
    properties: {
      continueToken: s(
        'The token used in the list options to get the next chunk of objects to migrate. When the .status.conditions indicates the migration is "Running", users can use this token to check the progress of the migration.',
      ),
      resource: {
        ref: V1ALPHA1 + "GroupVersionResource",
        d: "The resource that is being migrated. The migrator sends requests to the endpoint serving the resource. Immutable.",
      },
    },
    required: ["resource"],
  },
  [V1ALPHA1 + "StorageVersionMigrationStatus"]: {
    description: "Status of the storage version migration.",
    properties: {
      conditions: conditions(V1ALPHA1 + "MigrationCondition"),
      progress,
      resourceVersion: statusResourceVersion,
    },
  },
  [V1ALPHA1 + "StorageVersionMigration"]: {
    description:
      "StorageVersionMigration represents a migration of stored data to the latest storage version.",
    properties: {
      ...typeMetaFields,
      metadata: meta,
      spec: { ref: V1ALPHA1 + "StorageVersionMigrationSpec", d: "Specification of the migration." },
      status: { ref: V1ALPHA1 + "StorageVersionMigrationStatus", d: "Status of the migration." },
    },
    gvk: { group: GROUP, version: "v1alpha1", kind: "StorageVersionMigration" },
  },
  [META + "GroupResource"]: {
    description:
      "GroupResource specifies a Group and a Resource, but does not force a version.  This is useful for identifying concepts during lookup stages without having partially valid types",
    properties: { group: s(), resource: s() },
    required: ["group", "resource"],
  },
  [META + "Condition"]: {
    description: "Condition contains details for one aspect of the current state of this API Resource.",
    properties: {
      lastTransitionTime: {
        ref: META + "Time",
        d: "lastTransitionTime is the last time the condition transitioned from one status to another.",
      },
      message: s("message is a human readable message indicating details about the transition."),
      observedGeneration: int(
        "observedGeneration represents the .metadata.generation that the condition was set based upon.",
      ),
      reason: s(
        "reason contains a programmatic identifier indicating the reason for the condition's last transition.",
      ),
      status: s("status of the condition, one of True, False, Unknown."),
      type: s("type of condition in CamelCase or in foo.example.com/CamelCase."),
    },
    required: ["type", "status", "lastTransitionTime", "reason", "message"],
  },
  [V1BETA1 + "StorageVersionMigrationSpec"]: {
    description: "Spec of the storage version migration.",
    properties: {
      resource: {
        ref: META + "GroupResource",
        d: "The resource that is being migrated. The migrator sends requests to the endpoint serving the resource. Immutable.",
      },
    },
    required: ["resource"],
  },
  [V1BETA1 + "StorageVersionMigrationStatus"]: {
    description: "Status of the storage version migration.",
    properties: {
      conditions: conditions(META + "Condition"),
      progress,
      resourceVersion: statusResourceVersion,
    },
  },
  [V1BETA1 + "StorageVersionMigration"]: {
    description:
      "StorageVersionMigration represents a migration of stored data to the latest storage version.",
    properties: {
      ...typeMetaFields,
      metadata: meta,
      spec: { ref: V1BETA1 + "StorageVersionMigrationSpec", d: "Specification of the migration." },
      status: { ref: V1BETA1 + "StorageVersionMigrationStatus", d: "Status of the migration." },
    },
    gvk: { group: GROUP, version: "v1beta1", kind: "StorageVersionMigration" },
  },
};

for (const [prefix, version] of [
  [V1ALPHA1, "v1alpha1"],
  [V1BETA1, "v1beta1"],
] as const) {
  (STORAGEMIGRATION_SCHEMAS as Record<string, TypeSchema>)[`${prefix}StorageVersionMigrationList`] =
    listSchema(prefix + "StorageVersionMigration", GROUP, version, "StorageVersionMigration");
}
