import { readFileSync } from "node:fs";
import { z } from "zod";
import { AtrestError } from "../../common/errors.js";
import type { KmsClientOptions } from "./kms-client.js";

/**
 * A client profile file (JSON):
 *   {"endpoint":"https://127.0.0.1:9443","regionId":"cn-hangzhou","accessKeyId":"…","accessKeySecret":"…","caFile":"/…/ca.crt"}
 * A relative caFile is resolved against the profile's directory.
 */
export interface KmsProfile {
  readonly endpoint: string;
  readonly regionId?: string;
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly caFile?: string;
  /** The identity endpoint (STS, RAM, ActionTrail) beside this KMS, for `atrest iam` and `atrest events`. */
  readonly identityEndpoint?: string;
  /** The control plane (cs API) sharing this KMS's identity store, for `atrest control-plane`. */
  readonly controlPlaneEndpoint?: string;
}

const profileSchema = z.strictObject({
  endpoint: z.string().regex(/^https?:\/\/[^/\s]+\/?$/, "must be https://host:port"),
  regionId: z.string().min(1).optional(),
  accessKeyId: z.string().min(1, "must not be empty"),
  accessKeySecret: z.string().min(1, "must not be empty"),
  caFile: z.string().min(1).optional(),
  identityEndpoint: z
    .string()
    .regex(/^https?:\/\/[^/\s]+\/?$/, "must be https://host:port")
    .optional(),
  controlPlaneEndpoint: z
    .string()
    .regex(/^https?:\/\/[^/\s]+\/?$/, "must be https://host:port")
    .optional(),
});

export function parseKmsProfile(json: string, source = "profile"): KmsProfile {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new AtrestError("invalid-argument", `${source}: not valid JSON`, { cause: err });
  }
  const r = profileSchema.safeParse(value);
  if (!r.success) {
    // Paths and rules only: never echo the values (the profile holds a secret).
    const problems = r.error.issues.map(
      (i) => `${i.path.length === 0 ? "(profile)" : i.path.join(".")}: ${i.message}`,
    );
    throw new AtrestError("invalid-argument", `${source}: ${problems.join("; ")}`, { details: { problems } });
  }
  const p = r.data;
  return Object.freeze({
    endpoint: p.endpoint.replace(/\/$/, ""),
    accessKeyId: p.accessKeyId,
    accessKeySecret: p.accessKeySecret,
    ...(p.regionId === undefined ? {} : { regionId: p.regionId }),
    ...(p.caFile === undefined ? {} : { caFile: p.caFile }),
    ...(p.identityEndpoint === undefined ? {} : { identityEndpoint: p.identityEndpoint.replace(/\/$/, "") }),
    ...(p.controlPlaneEndpoint === undefined
      ? {}
      : { controlPlaneEndpoint: p.controlPlaneEndpoint.replace(/\/$/, "") }),
  });
}

export function loadKmsProfile(file: string): KmsProfile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new AtrestError("invalid-argument", `--profile: cannot read ${file}`, { cause: err });
  }
  const profile = parseKmsProfile(text, file);
  if (profile.caFile !== undefined && !profile.caFile.startsWith("/")) {
    const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : ".";
    return Object.freeze({ ...profile, caFile: `${dir}/${profile.caFile}` });
  }
  return profile;
}

/** Options for `new KmsClient(…)` from a profile. */
export function clientOptionsFromProfile(p: KmsProfile): KmsClientOptions {
  return {
    endpoint: p.endpoint,
    accessKeyId: p.accessKeyId,
    accessKeySecret: p.accessKeySecret,
    ...(p.regionId === undefined ? {} : { regionId: p.regionId }),
    ...(p.caFile === undefined ? {} : { caFile: p.caFile }),
  };
}
