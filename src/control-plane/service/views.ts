import { STAGES } from "../../operations/index.js";
import { csError } from "../cs/cs-error.js";
import type { ClusterRow, EventRow, TaskRow } from "../store/cluster-store.js";
import type { ClusterTag } from "../store/tag-store.js";
import type { StoredHealth } from "../store/watch-store.js";
import { autoReencryptOf } from "./cluster-tags.js";
import type { ClusterEvent, ClusterState, ClusterView, TaskStage, TaskView } from "./types.js";

/** Rows → the service's views, and the paging every list shares. */

const MAX_PAGE_SIZE = 100;

export function pageOf(q: { pageSize: number; pageNumber: number }): { offset: number; limit: number } {
  if (!Number.isSafeInteger(q.pageSize) || q.pageSize < 1 || q.pageSize > MAX_PAGE_SIZE)
    throw csError("InvalidParameter", `page_size: an integer from 1 to ${MAX_PAGE_SIZE}`);
  if (!Number.isSafeInteger(q.pageNumber) || q.pageNumber < 1)
    throw csError("InvalidParameter", "page_number: an integer from 1");
  return { offset: (q.pageNumber - 1) * q.pageSize, limit: q.pageSize };
}

/** The cluster as callers see it; `coolDownUntil` is 0 once the cool-down after a change is over. */
export function clusterView(
  row: ClusterRow,
  cooldownMs: number,
  now: number,
  extra: { readonly tags: readonly ClusterTag[]; readonly health: StoredHealth | undefined } = {
    tags: [],
    health: undefined,
  },
): ClusterView {
  // Health of another key (the cluster moved to a new one since) is not this cluster's any more.
  const health =
    extra.health?.kmsKeyId === row.kms_key_id && row.kms_key_id !== "" ? extra.health : undefined;
  const coolDownUntil = row.last_change_at > 0 ? row.last_change_at + cooldownMs : 0;
  return {
    clusterId: row.cluster_id,
    name: row.name,
    regionId: row.region_id,
    state: row.state as ClusterState,
    kmsKeyId: row.kms_key_id,
    encryptionEnabled: row.disable_encryption === 0,
    failureReason: row.failure_reason,
    currentTaskId: row.current_task_id ?? undefined,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastChangeAt: row.last_change_at,
    coolDownUntil: coolDownUntil > now ? coolDownUntil : 0,
    tags: extra.tags,
    autoReencrypt: autoReencryptOf(extra.tags),
    health:
      health === undefined
        ? undefined
        : { issues: health.issues, keyState: health.keyState, checkedAt: health.checkedAt },
  };
}

export function stagesOf(type: "enable" | "disable" | "reencrypt"): TaskStage[] {
  return STAGES[type].map((name) => ({ name, state: "pending" as const }));
}

export function eventView(r: EventRow): ClusterEvent {
  return {
    eventId: r.event_id,
    clusterId: r.cluster_id,
    taskId: r.task_id,
    time: Number(r.time),
    type: r.type,
    level: r.level === "Warning" ? "Warning" : "Normal",
    reason: r.reason,
    message: r.message,
    source: r.source,
  };
}

/** The task with its events (oldest first; none when not asked for). */
export function taskView(task: TaskRow, events: readonly EventRow[] = []): TaskView {
  const stages = JSON.parse(task.stages) as TaskStage[];
  const progress = stages.find((s) => s.progress !== undefined)?.progress;
  const asked = JSON.parse(task.request) as { type: string; keyId?: string };
  return {
    taskId: task.task_id,
    clusterId: task.cluster_id,
    type: task.task_type,
    state: task.state as TaskView["state"],
    currentStage: task.current_stage,
    stages,
    error: task.error_code === "" ? undefined : { code: task.error_code, message: task.error_message },
    ...(progress === undefined ? {} : { progress }),
    // What the change leaves: encryption off for a disable; on (with its key) for an enable, and for a
    // re-encrypt, which keeps the cluster's key.
    change:
      asked.type === "disable"
        ? { disableEncryption: true }
        : { disableEncryption: false, kmsKeyId: asked.keyId ?? "" },
    createdBy: task.created_by,
    createdAt: Number(task.created_at),
    updatedAt: Number(task.updated_at),
    finishedAt: task.finished_at === null ? undefined : Number(task.finished_at),
    owner: task.lease_owner,
    events: events.map(eventView),
  };
}
