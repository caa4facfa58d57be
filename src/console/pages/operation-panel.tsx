import { useT } from "../i18n.js";
import type { TaskView } from "./cluster-types.js";

function eta(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
}

/** The running change: a stepper of its stages and, during the rewrite, count, bar and ETA. */
export function OperationPanel({ task }: { task: TaskView }) {
  const { t } = useT();
  const p = task.progress;
  const done = p === undefined ? 0 : p.total - p.remaining;
  return (
    <div className="operation" aria-label={t("cluster.task")}>
      <ol className="stepper">
        {task.stages.map((s) => (
          <li
            key={s.name}
            className={`step step-${s.state}`}
            aria-current={s.state === "running" ? "step" : undefined}
          >
            <span className="dot" />
            <span>{s.name}</span>
          </li>
        ))}
      </ol>
      {p === undefined ? null : (
        <div className="progress-line">
          <progress
            max={Math.max(p.total, 1)}
            value={done}
            aria-label={t("cluster.progress", { done, total: p.total })}
          />
          <span>{t("cluster.progress", { done, total: p.total })}</span>
          {p.etaSeconds === null ? null : (
            <span className="muted">{t("cluster.eta", { eta: eta(p.etaSeconds) })}</span>
          )}
        </div>
      )}
    </div>
  );
}
