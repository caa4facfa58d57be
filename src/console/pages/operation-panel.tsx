import { useT } from "../i18n.js";
import type { TaskView } from "./cluster-types.js";

function eta(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
}

/**
 * The change as it runs: a stepper of its stages and, once the rewrite began, a progress bar
 * (role progressbar with its value and maximum, so assistive technology reads it), the count
 * "N / M", the observed rate and the ETA computed from it. The page polls the task every second; the
 * control plane persists the progress at most once a second.
 */
export function OperationPanel({ task }: { task: TaskView }) {
  const { t } = useT();
  const p = task.progress;
  const live = task.state === "running";
  return (
    <div className="operation" role="group" aria-label={t("cluster.task")}>
      <ol className="stepper" aria-label={t("ops.stages")}>
        {task.stages.map((s) => (
          <li
            key={s.name}
            className={`step step-${s.state}`}
            aria-current={s.state === "running" ? "step" : undefined}
            title={s.message}
          >
            <span className="dot" />
            <span>{s.name}</span>
          </li>
        ))}
      </ol>
      {p === undefined ? null : (
        <div className="progress-line">
          <div
            className="bar"
            role="progressbar"
            aria-label={t("ops.progressLabel")}
            aria-valuemin={0}
            aria-valuemax={p.total}
            aria-valuenow={p.done}
            aria-valuetext={t("ops.progressText", { done: p.done, total: p.total })}
          >
            <div
              className="bar-fill"
              style={{ width: `${p.total > 0 ? Math.min(100, (100 * p.done) / p.total) : 100}%` }}
            />
          </div>
          <span className="count">{t("ops.progressText", { done: p.done, total: p.total })}</span>
          {/* Pace and ETA only while it runs (a stopped change has neither). */}
          {live && p.ratePerSecond > 0 ? (
            <span className="muted">{t("ops.rate", { rate: p.ratePerSecond })}</span>
          ) : null}
          {!live || p.etaSeconds === null ? null : (
            <span className="muted">{t("ops.eta", { eta: eta(p.etaSeconds) })}</span>
          )}
        </div>
      )}
    </div>
  );
}
