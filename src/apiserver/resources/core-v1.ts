import { isPlainObject, type KubeObject } from "../../kube-object/types.js";
import { ageColumn, nameColumn } from "../table.js";
import {
  validateConfigMap,
  validateImmutableUpdate,
  validateSecret,
  validateServiceAccount,
} from "../validation.js";
import { defineResource, type GroupVersion, type TableColumn } from "./define.js";

/** The core group (`/api/v1`): the kinds Secret encryption at rest is about, and their namespaces. */

const CORE = "io.k8s.api.core.v1.";
const countKeys = (v: unknown): number => (isPlainObject(v) ? Object.keys(v).length : 0);
const column = (
  name: string,
  type: TableColumn["type"],
  description: string,
  cell: TableColumn["cell"],
): TableColumn => ({ name, type, format: "", description, priority: 0, cell });

/** Secrets and ConfigMaps: their data may not change while `immutable` is set. */
const withImmutability =
  (kind: string, validate: (obj: KubeObject) => ReturnType<typeof validateSecret>) =>
  (obj: KubeObject, old: KubeObject | undefined): ReturnType<typeof validateSecret> => [
    ...validate(obj),
    ...(old === undefined ? [] : validateImmutableUpdate(kind, old, obj)),
  ];

export const CORE_V1: GroupVersion = {
  group: "",
  version: "v1",
  resources: [
    defineResource({
      group: "",
      version: "v1",
      resource: "namespaces",
      singularName: "namespace",
      kind: "Namespace",
      namespaced: false,
      shortNames: ["ns"],
      schema: CORE + "Namespace",
      nameRule: "label",
      fieldSelectors: ["metadata.name", "status.phase"],
      columns: [
        nameColumn,
        column("Status", "string", "The status of the namespace", (o) =>
          isPlainObject(o.status) && typeof o.status.phase === "string" ? o.status.phase : "Active",
        ),
        ageColumn,
      ],
    }),
    defineResource({
      group: "",
      version: "v1",
      resource: "secrets",
      singularName: "secret",
      kind: "Secret",
      namespaced: true,
      schema: CORE + "Secret",
      nameRule: "subdomain",
      fieldSelectors: ["metadata.name", "metadata.namespace", "type"],
      columns: [
        nameColumn,
        column("Type", "string", "Used to facilitate programmatic handling of secret data.", (o) =>
          typeof o.type === "string" ? o.type : "Opaque",
        ),
        column("Data", "integer", "Data contains the secret data.", (o) => countKeys(o.data)),
        ageColumn,
      ],
      validate: withImmutability("Secret", validateSecret),
    }),
    defineResource({
      group: "",
      version: "v1",
      resource: "configmaps",
      singularName: "configmap",
      kind: "ConfigMap",
      namespaced: true,
      shortNames: ["cm"],
      schema: CORE + "ConfigMap",
      nameRule: "subdomain",
      columns: [
        nameColumn,
        column(
          "Data",
          "integer",
          "Data contains the configuration data.",
          (o) => countKeys(o.data) + countKeys(o.binaryData),
        ),
        ageColumn,
      ],
      validate: withImmutability("ConfigMap", validateConfigMap),
    }),
    defineResource({
      group: "",
      version: "v1",
      resource: "serviceaccounts",
      singularName: "serviceaccount",
      kind: "ServiceAccount",
      namespaced: true,
      shortNames: ["sa"],
      schema: CORE + "ServiceAccount",
      nameRule: "subdomain",
      returnDeletedObject: true, // kube's serviceaccount storage
      columns: [
        nameColumn,
        column(
          "Secrets",
          "integer",
          "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
          (o) => (Array.isArray(o.secrets) ? o.secrets.length : 0),
        ),
        ageColumn,
      ],
      validate: (obj) => validateServiceAccount(obj),
    }),
  ],
};
