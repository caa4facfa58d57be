import { z } from "zod";
import { csError } from "./cs-error.js";

/** The JSON bodies and query parameters of the cs operations served, validated at the edge (zod). */

export const updateKmsEncryptionBody = z.strictObject({
  disable_encryption: z.boolean().optional(),
  kms_key_id: z.string().max(256).optional(),
});

/**
 * CreateCluster: what a managed atrest cluster uses of ACK's body; ACK's infrastructure fields (VPC,
 * node pools, …) mean nothing here and are ignored, as a client sending ACK's full request expects.
 */
export const createClusterBody = z.object({
  name: z.string().min(1).max(63),
  region_id: z.string().min(1).max(64).optional(),
  cluster_type: z.string().max(64).optional(),
  /** The KMS key the cluster's Secrets are encrypted with from the first write. */
  encryption_provider_key: z.string().max(256).optional(),
});

/** ModifyClusterTags: the body is the list itself (the SDK sends `request.body` as a JSON array). */
export const modifyClusterTagsBody = z
  .array(z.strictObject({ key: z.string().max(1024), value: z.string().max(1024).optional() }))
  .max(1000);

export const registerClusterBody = z.strictObject({
  cluster_file: z.string().min(1).max(4096),
});

export const grantRoleBody = z.strictObject({
  principal: z.string().min(1).max(64),
  role_name: z.string().min(1).max(32),
});

/** Parses a JSON body against a schema; every problem with its path, in one InvalidParameter. */
export function parseBody<T>(schema: z.ZodType<T>, raw: Buffer, what: string): T {
  let value: unknown;
  if (raw.length === 0) value = {};
  else {
    try {
      value = JSON.parse(raw.toString("utf8"));
    } catch {
      throw csError("InvalidParameter", `${what}: the body is not valid JSON`);
    }
  }
  const r = schema.safeParse(value);
  if (!r.success)
    throw csError(
      "InvalidParameter",
      `${what}: ${r.error.issues.map((i) => `${i.path.length === 0 ? "body" : i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return r.data;
}

/** An optional positive integer query parameter (page_size, page_number). */
export function intParam(
  query: Record<string, string | string[] | undefined>,
  name: string,
  fallback: number,
): number {
  const raw = query[name];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v === "") return fallback;
  if (!/^\d{1,9}$/.test(v)) throw csError("InvalidParameter", `${name}: must be a positive integer`);
  return Number(v);
}

export function strParam(
  query: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const raw = query[name];
  const v = Array.isArray(raw) ? raw[0] : raw;
  return v === undefined || v === "" ? undefined : v;
}
