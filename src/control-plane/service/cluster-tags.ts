import { csError } from "../cs/cs-error.js";
import type { ClusterTag } from "../store/tag-store.js";
import { allowedCluster, roleOf } from "./authorize.js";
import { recordClusterEvent, type ServiceContext } from "./context.js";
import type { Caller } from "./types.js";

/**
 * A cluster's tags, and the one atrest reads: `atrest.io/auto-reencrypt`. The per-cluster setting of
 * automatic re-encryption is a tag because that is how ACK lets a caller attach a setting of their own
 * to a cluster with the official SDK (ModifyClusterTags, `POST /clusters/{id}/tags`, a full update;
 * the tags come back in DescribeClusterDetail's `tags`): Terraform's `tags`, the console and the SDK
 * all reach it, and RAM authorizes it as `cs:ModifyClusterTags` on the cluster. Absent or `true`: on
 * (the default); `false`: off.
 */
export const AUTO_REENCRYPT_TAG = "atrest.io/auto-reencrypt";

/** Alibaba Cloud's tag rules (ECS/ACK): at most 20 per resource, key and value ≤ 128 characters. */
export const MAX_TAGS = 20;
const MAX_TAG_CHARS = 128;

export function autoReencryptOf(tags: readonly ClusterTag[]): boolean {
  return tags.find((t) => t.key === AUTO_REENCRYPT_TAG)?.value !== "false";
}

/** Every rule a tag list breaks, each with its index (`tags[2].key: …`); [] when valid. */
export function tagProblems(tags: ReadonlyArray<{ key: string; value?: string | undefined }>): string[] {
  const problems: string[] = [];
  if (tags.length > MAX_TAGS) problems.push(`tags: at most ${MAX_TAGS} tags per cluster`);
  const seen = new Set<string>();
  tags.forEach((t, i) => {
    const key = t.key;
    const value = t.value ?? "";
    if (key.length < 1 || key.length > MAX_TAG_CHARS)
      problems.push(`tags[${i}].key: 1-${MAX_TAG_CHARS} characters`);
    if (/^(aliyun|acs:)/i.test(key)) problems.push(`tags[${i}].key: must not start with aliyun or acs:`);
    if (/https?:\/\//i.test(key)) problems.push(`tags[${i}].key: must not contain http:// or https://`);
    if (value.length > MAX_TAG_CHARS) problems.push(`tags[${i}].value: at most ${MAX_TAG_CHARS} characters`);
    if (/^acs:/i.test(value)) problems.push(`tags[${i}].value: must not start with acs:`);
    if (/https?:\/\//i.test(value)) problems.push(`tags[${i}].value: must not contain http:// or https://`);
    if (seen.has(key)) problems.push(`tags[${i}].key: ${key} is given twice`);
    seen.add(key);
    if (key === AUTO_REENCRYPT_TAG && value !== "true" && value !== "false")
      problems.push(`tags[${i}].value: ${AUTO_REENCRYPT_TAG} is true or false`);
  });
  return problems;
}

/**
 * ModifyClusterTags: RAM on the cluster first (an unknown cluster is ErrorClusterNotFound only to a
 * caller allowed to ask); the list checked whole before anything is stored; turning automatic
 * re-encryption on or off changes how the cluster's Secrets are handled, so that needs the cluster
 * role UpdateKMSEncryption needs (administrator or O&M engineer). Recorded as a cluster event naming
 * who changed what.
 */
export async function modifyClusterTags(
  ctx: ServiceContext,
  caller: Caller,
  clusterId: string,
  given: ReadonlyArray<{ key: string; value?: string | undefined }>,
): Promise<void> {
  const row = await allowedCluster(ctx, caller, "ModifyClusterTags", clusterId);
  const problems = tagProblems(given);
  if (problems.length > 0) throw csError("InvalidParameter", `ModifyClusterTags: ${problems.join("; ")}`);
  const tags: ClusterTag[] = given.map((t) => ({ key: t.key, value: t.value ?? "" }));
  const before = await ctx.tags.tagsOf(clusterId);
  const wasOn = autoReencryptOf(before);
  const isOn = autoReencryptOf(tags);
  if (wasOn !== isOn) {
    const role = await roleOf(ctx, caller, clusterId);
    if (role !== "admin" && role !== "ops")
      throw csError(
        "ForbiddenCheckRole",
        `${caller.identity.userName} needs the administrator or O&M engineer role on cluster ${clusterId} to turn automatic re-encryption ${isOn ? "on" : "off"} (${AUTO_REENCRYPT_TAG})`,
      );
  }
  await ctx.tags.replaceTags(clusterId, tags);
  const shown = tags.map((t) => `${t.key}=${t.value}`).join(", ");
  await recordClusterEvent(ctx, row.cluster_id, "", {
    type: "cluster_modify",
    reason: "ModifyClusterTags",
    message: `${caller.identity.userName} set the tags to [${shown}]${wasOn === isOn ? "" : `; automatic re-encryption is ${isOn ? "on" : "off"}`}`,
    source: caller.identity.userName,
  });
}
