import { useState } from "react";
import { useT } from "../i18n.js";
import type { ClusterView, TaskView } from "./cluster-types.js";
import { OperationPanel } from "./operation-panel.js";

export type ChangeRequest = { enabled: true; kmsKeyId: string } | { enabled: false };

/** The change a failed task asked for, to ask for it again. */
export function changeOf(task: TaskView): ChangeRequest {
  return task.change.disableEncryption
    ? { enabled: false }
    : { enabled: true, kmsKeyId: task.change.kmsKeyId ?? "" };
}

/**
 * A failed change: the reason as the control plane recorded it, the stage it stopped at, how far the
 * rewrite got, and the action that asks for the same change again — "Resume" when it got somewhere
 * (the control plane then goes on from the stage and cursor it reached), "Retry" otherwise.
 */
export function FailurePanel({
  cluster,
  task,
  onRetry,
}: {
  cluster: ClusterView;
  task: TaskView | undefined;
  onRetry: (req: ChangeRequest) => Promise<void>;
}) {
  const { t } = useT();
  const [busy, setBusy] = useState(false);
  const stopped = task?.stages.find((s) => s.state === "failed")?.name ?? task?.currentStage;
  const p = task?.progress;
  const reached =
    (p !== undefined && p.done > 0) ||
    (task?.stages.some((s) => s.name !== "preflight" && s.state === "succeeded") ?? false);
  const action = t(reached ? "ops.resume" : "ops.retry");
  return (
    <div className="failure">
      <div role="alert" className="error">
        <strong>{t("ops.failedTitle")}</strong>
        {stopped === undefined ? null : <div>{t("ops.failedAt", { stage: stopped })}</div>}
        <p className="reason">{cluster.failureReason || task?.error?.message}</p>
        {p === undefined || p.done === 0 ? null : (
          <p>{t("ops.doneSoFar", { done: p.done, total: p.total })}</p>
        )}
        {task === undefined ? null : (
          <>
            <p className="muted">{t("ops.retryHint", { action })}</p>
            <button
              className="primary"
              disabled={busy}
              onClick={() => {
                setBusy(true);
                void onRetry(changeOf(task)).finally(() => setBusy(false));
              }}
            >
              {action}
            </button>
          </>
        )}
      </div>
      {task === undefined ? null : <OperationPanel task={task} />}
    </div>
  );
}
