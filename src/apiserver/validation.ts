import type { FieldError } from "./status.js";
import { isPlainObject, type KubeObject, type ObjectMeta } from "../kube-object/types.js";

/** Kubernetes' validation rules and messages (k8s.io/apimachinery/pkg/util/validation) for the served types. */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

const DNS1123_LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const QUALIFIED_NAME_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY_MSG =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/** Secrets and ConfigMaps: total size of data (kube's MaxSecretSize). */
export const MAX_SECRET_BYTES = 1024 * 1024;
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

export function dns1123LabelErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push("must be no more than 63 characters");
  if (!DNS1123_LABEL.test(value)) errs.push(DNS1123_LABEL_MSG);
  return errs;
}

export function dns1123SubdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push("must be no more than 253 characters");
  if (!DNS1123_SUBDOMAIN.test(value)) errs.push(DNS1123_SUBDOMAIN_MSG);
  return errs;
}

/** A label/annotation key: optional DNS subdomain prefix, "/", a qualified name. */
export function qualifiedNameErrors(value: string): string[] {
  const parts = value.split("/");
  let name = value;
  const errs: string[] = [];
  if (parts.length === 2) {
    const [prefix, n] = parts as [string, string];
    name = n;
    if (prefix.length === 0) errs.push("prefix part must be non-empty");
    else for (const e of dns1123SubdomainErrors(prefix)) errs.push(`prefix part ${e}`);
  } else if (parts.length > 2) {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push("name part must be non-empty");
  else if (name.length > 63) errs.push("name part must be no more than 63 characters");
  if (name.length > 0 && !QUALIFIED_NAME.test(name)) errs.push(QUALIFIED_NAME_MSG);
  return errs;
}

/** kube's path.IsValidPathSegmentName (ValidateRBACName and other free-form names). */
export function pathSegmentNameErrors(name: string): string[] {
  if (name === "." || name === "..") return [`may not be '${name}'`];
  return ["/", "%"].filter((bad) => name.includes(bad)).map((bad) => `may not contain '${bad}'`);
}

export function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push("must be no more than 63 characters");
  if (!LABEL_VALUE.test(value)) errs.push(LABEL_VALUE_MSG);
  return errs;
}

export function configKeyErrors(key: string): string[] {
  const errs: string[] = [];
  if (key.length > 253) errs.push("must be no more than 253 characters");
  if (!CONFIG_KEY.test(key)) errs.push(CONFIG_KEY_MSG);
  if (key === ".") errs.push("must not be '.'");
  else if (key === "..") errs.push("must not be '..'");
  else if (key.startsWith("..")) errs.push("must not start with '..'");
  return errs;
}

function invalidValue(field: string, value: unknown, detail: string): FieldError {
  return { field, type: "FieldValueInvalid", value, detail };
}

/** ObjectMeta rules: the name (label or subdomain), namespace, labels, annotations. */
export function validateObjectMeta(
  meta: ObjectMeta,
  options: { nameRule: "label" | "subdomain" | "path-segment"; namespaced: boolean },
): FieldError[] {
  const errs: FieldError[] = [];
  const name = meta.name;
  if (typeof name !== "string" || name === "") {
    if (typeof meta.generateName !== "string" || meta.generateName === "") {
      errs.push({
        field: "metadata.name",
        type: "FieldValueRequired",
        detail: "name or generateName is required",
      });
    }
  } else {
    const nameErrs =
      options.nameRule === "label"
        ? dns1123LabelErrors(name)
        : options.nameRule === "subdomain"
          ? dns1123SubdomainErrors(name)
          : pathSegmentNameErrors(name);
    for (const e of nameErrs) errs.push(invalidValue("metadata.name", name, e));
  }
  if (options.namespaced) {
    if (typeof meta.namespace !== "string" || meta.namespace === "")
      errs.push({ field: "metadata.namespace", type: "FieldValueRequired", detail: "" });
    else
      for (const e of dns1123LabelErrors(meta.namespace))
        errs.push(invalidValue("metadata.namespace", meta.namespace, e));
  } else if (typeof meta.namespace === "string" && meta.namespace !== "") {
    errs.push({
      field: "metadata.namespace",
      type: "FieldValueForbidden",
      detail: "not allowed on this type",
    });
  }
  if (meta.labels !== undefined) {
    if (!isPlainObject(meta.labels))
      errs.push(invalidValue("metadata.labels", meta.labels, "must be a map of strings"));
    else {
      for (const [k, v] of Object.entries(meta.labels)) {
        for (const e of qualifiedNameErrors(k)) errs.push(invalidValue("metadata.labels", k, e));
        if (typeof v !== "string") errs.push(invalidValue("metadata.labels", v, "must be a string"));
        else for (const e of labelValueErrors(v)) errs.push(invalidValue("metadata.labels", v, e));
      }
    }
  }
  if (meta.annotations !== undefined) {
    if (!isPlainObject(meta.annotations))
      errs.push(invalidValue("metadata.annotations", meta.annotations, "must be a map of strings"));
    else {
      let total = 0;
      for (const [k, v] of Object.entries(meta.annotations)) {
        for (const e of qualifiedNameErrors(k.toLowerCase()))
          errs.push(invalidValue("metadata.annotations", k, e));
        total += k.length + (typeof v === "string" ? Buffer.byteLength(v) : 0);
      }
      if (total > MAX_ANNOTATIONS_BYTES)
        errs.push({
          field: "metadata.annotations",
          type: "FieldValueTooLong",
          detail: `must have at most ${MAX_ANNOTATIONS_BYTES} bytes`,
        });
    }
  }
  return errs;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function validateDataMap(field: string, data: unknown, base64: boolean, errs: FieldError[]): number {
  if (data === undefined) return 0;
  if (!isPlainObject(data)) {
    errs.push(invalidValue(field, data, "must be a map"));
    return 0;
  }
  let size = 0;
  for (const [k, v] of Object.entries(data)) {
    for (const e of configKeyErrors(k)) errs.push(invalidValue(`${field}[${k}]`, k, e));
    if (typeof v !== "string" || (base64 && (!BASE64.test(v) || v.length % 4 !== 0))) {
      errs.push(
        invalidValue(
          `${field}[${k}]`,
          "<value omitted>",
          base64 ? "must be base64-encoded bytes" : "must be a string",
        ),
      );
      continue;
    }
    size += base64 ? Buffer.from(v, "base64").length : Buffer.byteLength(v);
  }
  return size;
}

/** The data keys of a Secret of a typed kind that must be present. */
const REQUIRED_SECRET_KEYS: Readonly<Record<string, readonly string[]>> = {
  "kubernetes.io/tls": ["tls.crt", "tls.key"],
  "kubernetes.io/dockerconfigjson": [".dockerconfigjson"],
  "kubernetes.io/dockercfg": [".dockercfg"],
  "kubernetes.io/ssh-auth": ["ssh-privatekey"],
};

export function validateSecret(obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const size = validateDataMap("data", obj.data, true, errs);
  if (size > MAX_SECRET_BYTES)
    errs.push({
      field: "data",
      type: "FieldValueTooLong",
      detail: `must have at most ${MAX_SECRET_BYTES} bytes`,
    });
  const type = typeof obj.type === "string" ? obj.type : "Opaque";
  const data = isPlainObject(obj.data) ? obj.data : {};
  for (const key of REQUIRED_SECRET_KEYS[type] ?? []) {
    if (!(key in data)) errs.push({ field: `data[${key}]`, type: "FieldValueRequired", detail: "" });
  }
  if (type === "kubernetes.io/basic-auth" && !("username" in data) && !("password" in data)) {
    errs.push({ field: "data[username]", type: "FieldValueRequired", detail: "" });
  }
  if (obj.immutable !== undefined && typeof obj.immutable !== "boolean")
    errs.push(invalidValue("immutable", obj.immutable, "must be a boolean"));
  return errs;
}

export function validateConfigMap(obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const size =
    validateDataMap("data", obj.data, false, errs) +
    validateDataMap("binaryData", obj.binaryData, true, errs);
  if (isPlainObject(obj.data) && isPlainObject(obj.binaryData)) {
    for (const k of Object.keys(obj.binaryData)) {
      if (k in obj.data) errs.push(invalidValue(`data[${k}]`, k, "duplicate of key present in binaryData"));
    }
  }
  if (size > MAX_SECRET_BYTES)
    errs.push({
      field: "data",
      type: "FieldValueTooLong",
      detail: `must have at most ${MAX_SECRET_BYTES} bytes`,
    });
  return errs;
}

export function validateServiceAccount(obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  for (const field of ["secrets", "imagePullSecrets"] as const) {
    const v = obj[field];
    if (v !== undefined && !Array.isArray(v)) errs.push(invalidValue(field, v, "must be a list"));
  }
  return errs;
}

/** Updates of an immutable Secret or ConfigMap may not touch its data (kube's message). */
export function validateImmutableUpdate(kind: string, oldObj: KubeObject, newObj: KubeObject): FieldError[] {
  if (kind !== "Secret" && kind !== "ConfigMap") return [];
  const errs: FieldError[] = [];
  if (oldObj.immutable === true) {
    if (newObj.immutable !== true)
      errs.push({
        field: "immutable",
        type: "FieldValueForbidden",
        detail: "field is immutable when `immutable` is set",
      });
    const fields = kind === "Secret" ? ["data"] : ["data", "binaryData"];
    for (const f of fields) {
      if (JSON.stringify(sortedMap(oldObj[f])) !== JSON.stringify(sortedMap(newObj[f]))) {
        errs.push({
          field: f,
          type: "FieldValueForbidden",
          detail: "field is immutable when `immutable` is set",
        });
      }
    }
  }
  if (kind === "Secret" && (oldObj.type ?? "Opaque") !== (newObj.type ?? "Opaque")) {
    errs.push({ field: "type", type: "FieldValueInvalid", value: newObj.type, detail: "field is immutable" });
  }
  return errs;
}

function sortedMap(v: unknown): unknown {
  if (!isPlainObject(v)) return {};
  return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
