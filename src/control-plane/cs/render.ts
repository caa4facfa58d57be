import type { ClusterEvent, ClusterView, TaskProgress, TaskView } from "../service/types.js";

/**
 * The cs API's (2015-12-15) JSON shapes, field names as ACK spells them (the SDK's models map them):
 * DescribeClusterDetail, DescribeClustersV1's items, DescribeClusterEvents' events, DescribeTaskInfo.
 */
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** ACK's `meta_data`: a JSON string; Terraform's alicloud_cs_kms_encryption reads these two. */
export function metaData(c: ClusterView): string {
  return JSON.stringify({
    EncryptionKMSKeyId: c.kmsKeyId,
    DisableEncryption: !c.encryptionEnabled,
  });
}

export function clusterDetail(c: ClusterView): Record<string, unknown> {
  return {
    cluster_id: c.clusterId,
    name: c.name,
    region_id: c.regionId,
    state: c.state,
    cluster_type: "ExternalKubernetes",
    profile: "Default",
    cluster_spec: "",
    created: iso(c.createdAt),
    updated: iso(c.updatedAt),
    deletion_protection: false,
    meta_data: metaData(c),
    tags: c.tags.map((t) => ({ key: t.key, value: t.value })),
    // EKS's ClusterHealth (the SDK's model leaves it out; raw JSON readers and the console see it).
    health: {
      issues: (c.health?.issues ?? []).map((i) => ({
        code: i.code,
        message: i.message,
        resourceIds: [...i.resourceIds],
      })),
      ...(c.health === undefined
        ? {}
        : { key_state: c.health.keyState, checked_at: iso(c.health.checkedAt) }),
    },
    auto_reencrypt: c.autoReencrypt,
  };
}

export function clusterEvent(e: ClusterEvent): Record<string, unknown> {
  return {
    event_id: e.eventId,
    cluster_id: e.clusterId,
    task_id: e.taskId,
    type: e.type,
    source: e.source,
    subject: e.clusterId,
    time: iso(e.time),
    data: { level: e.level, reason: e.reason, message: e.message },
  };
}

/** atrest's addition to DescribeTaskInfo: the rewrite's count, rate and ETA (snake_case as the API). */
function progressInfo(p: TaskProgress): Record<string, unknown> {
  return {
    total: p.total,
    done: p.done,
    rewritten: p.rewritten,
    remaining: p.remaining,
    rate_per_second: p.ratePerSecond,
    eta_seconds: p.etaSeconds,
  };
}

export function taskInfo(t: TaskView): Record<string, unknown> {
  return {
    task_id: t.taskId,
    cluster_id: t.clusterId,
    task_type: t.type,
    state: t.state,
    current_stage: t.currentStage,
    created: iso(t.createdAt),
    updated: iso(t.updatedAt),
    target: { id: t.clusterId, type: "cluster" },
    stages: t.stages.map((s) => ({
      name: s.name,
      state: s.state,
      ...(s.startedAt === undefined ? {} : { start_time: iso(s.startedAt) }),
      ...(s.finishedAt === undefined ? {} : { end_time: iso(s.finishedAt) }),
      message: s.message ?? "",
      // ACK's stages carry their results as `outputs`: here the rewrite's progress.
      ...(s.progress === undefined ? {} : { outputs: progressInfo(s.progress) }),
    })),
    // The running change's progress as a whole (the console's live bar; an atrest field).
    ...(t.progress === undefined ? {} : { progress: progressInfo(t.progress) }),
    // ACK's task events (timestamp in ms as a string): who asked, which instance took it over, the end.
    events: t.events.map((e) => ({
      action: e.reason,
      level: e.level,
      message: e.message,
      reason: e.reason,
      source: e.source,
      timestamp: String(e.time),
    })),
    // Which control-plane instance drives the task (an atrest field; ACK has one control plane).
    parameters: { owner: t.owner },
    ...(t.error === undefined ? {} : { error: { code: t.error.code, message: t.error.message } }),
  };
}
