import { useEffect, useState } from "react";
import { api, ApiError } from "../api.js";
import { useT, type MessageKey } from "../i18n.js";
import { ErrorBox, Link, Loading, Switch, useAsync } from "../ui.js";
import type { ClusterView, TaskView } from "./cluster-types.js";
import { FailurePanel, type ChangeRequest } from "./failure-panel.js";
import { OperationPanel } from "./operation-panel.js";
import { SERVICE_ROLE_REFUSAL, ServiceRoleNotice } from "./service-role-notice.js";
import { DisableDialog, EnableDialog } from "./secret-encryption-dialog.js";
import { StateBadge } from "./state-badge.js";

/** How often the page asks while a change runs (the state, stages and progress update live). */
const POLL_MS = 1000;
const ROLES = ["admin", "ops", "dev", "restricted"] as const;

export function ClusterPage({ clusterId }: { clusterId: string }) {
  const { t } = useT();
  const [tab, setTab] = useState<"basic" | "events" | "roles">("basic");
  const path = `/clusters/${encodeURIComponent(clusterId)}`;
  const detail = useAsync(() => api<{ cluster: ClusterView; task?: TaskView }>("GET", path), [path]);
  const [dialog, setDialog] = useState<"enable" | "disable">();
  const [refusal, setRefusal] = useState<unknown>();
  const cluster = detail.data?.cluster;
  const updating = cluster?.state === "updating";

  useEffect(() => {
    if (!updating) return;
    const timer = setInterval(detail.reload, POLL_MS);
    return () => clearInterval(timer);
  }, [updating, detail.reload]);

  const change = async (req: ChangeRequest) => {
    setRefusal(undefined);
    try {
      await api("POST", `${path}/encryption`, req);
    } catch (err) {
      // Refused for the service role: shown on the page, beside the quick authorization it needs.
      if (!(err instanceof ApiError && err.code === SERVICE_ROLE_REFUSAL)) throw err;
      setDialog(undefined);
      setRefusal(err);
      return;
    }
    setDialog(undefined);
    detail.reload();
  };
  /** From the switch: a refusal shows on the page; from a dialog, in the dialog. */
  const changeFromPage = (req: ChangeRequest) => change(req).catch((err: unknown) => setRefusal(err));

  if (cluster === undefined)
    return detail.error === undefined ? <Loading /> : <ErrorBox error={detail.error} />;
  const task = detail.data?.task;
  return (
    <section>
      <p>
        <Link to="/console/clusters">← {t("clusters.title")}</Link>
      </p>
      <div className="page-head">
        <h1>{cluster.name}</h1>
        <StateBadge state={cluster.state} />
      </div>
      <div role="tablist" className="tabs">
        {(
          [
            ["basic", "cluster.basic"],
            ["events", "cluster.events"],
            ["roles", "cluster.roles"],
          ] as const
        ).map(([id, label]) => (
          <button key={id} role="tab" aria-selected={tab === id} onClick={() => setTab(id)}>
            {t(label)}
          </button>
        ))}
      </div>
      {tab === "basic" ? (
        <div role="tabpanel" aria-label={t("cluster.basic")}>
          <dl className="facts">
            <dt>{t("clusters.id")}</dt>
            <dd>{cluster.clusterId}</dd>
            <dt>{t("clusters.region")}</dt>
            <dd>{cluster.regionId}</dd>
            <dt>{t("clusters.state")}</dt>
            <dd>
              <StateBadge state={cluster.state} />
            </dd>
            <dt>{t("kms.created")}</dt>
            <dd>{new Date(cluster.createdAt).toISOString()}</dd>
          </dl>
          <h2>{t("cluster.security")}</h2>
          <div className="facts">
            <span>{t("cluster.secretEncryption")}</span>
            <span className="inline">
              <Switch
                label={t("cluster.secretEncryption")}
                checked={cluster.encryptionEnabled}
                disabled={updating}
                onChange={(on) => setDialog(on ? "enable" : "disable")}
              />
              {cluster.kmsKeyId === "" ? null : (
                <>
                  <Link to={`/console/kms/keys/${encodeURIComponent(cluster.kmsKeyId)}`}>
                    {cluster.kmsKeyId}
                  </Link>
                  <Link
                    to={`/console/events?serviceName=Kms&resourceName=${encodeURIComponent(cluster.kmsKeyId)}&user=aliyuncsmanagedsecurityrole`}
                  >
                    {t("cluster.eventsForKey")}
                  </Link>
                </>
              )}
            </span>
          </div>
          <ServiceRoleNotice refusal={refusal} onAuthorized={() => setRefusal(undefined)} />
          <ErrorBox error={refusal} title={t("cluster.refused")} />
          {cluster.coolDownUntil > Date.now() && !updating ? (
            <p className="muted">
              {t("cluster.coolDown", { time: new Date(cluster.coolDownUntil).toLocaleTimeString() })}
            </p>
          ) : null}
          {cluster.state === "failed" ? (
            <FailurePanel cluster={cluster} task={task} onRetry={changeFromPage} />
          ) : null}
          {task !== undefined && (updating || task.state === "running") ? (
            <OperationPanel task={task} />
          ) : null}
        </div>
      ) : null}
      {tab === "events" ? <ClusterEvents path={path} /> : null}
      {tab === "roles" ? <ClusterRoles path={path} /> : null}
      {dialog === "enable" ? (
        <EnableDialog
          region={cluster.regionId}
          onClose={() => setDialog(undefined)}
          onOk={(kmsKeyId) => change({ enabled: true, kmsKeyId })}
        />
      ) : null}
      {dialog === "disable" ? (
        <DisableDialog onClose={() => setDialog(undefined)} onOk={() => change({ enabled: false })} />
      ) : null}
    </section>
  );
}

interface ClusterEvent {
  eventId: string;
  time: number;
  level: string;
  reason: string;
  message: string;
}

function ClusterEvents({ path }: { path: string }) {
  const { t } = useT();
  const events = useAsync(() => api<{ events: ClusterEvent[] }>("GET", `${path}/events`), [path]);
  return (
    <div role="tabpanel" aria-label={t("cluster.events")}>
      <ErrorBox error={events.error} />
      <table aria-label={t("cluster.events")}>
        <thead>
          <tr>
            <th>{t("event.time")}</th>
            <th>{t("event.level")}</th>
            <th>{t("event.reason")}</th>
            <th>{t("event.message")}</th>
          </tr>
        </thead>
        <tbody>
          {(events.data?.events ?? []).map((e) => (
            <tr key={e.eventId}>
              <td>{new Date(e.time).toISOString()}</td>
              <td>{e.level}</td>
              <td>{e.reason}</td>
              <td>{e.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ClusterRoles({ path }: { path: string }) {
  const { t } = useT();
  const roles = useAsync(
    () =>
      api<{ roles: Array<{ principal: string; role: string; grantedBy: string }> }>("GET", `${path}/roles`),
    [path],
  );
  const [principal, setPrincipal] = useState("");
  const [role, setRole] = useState<string>("dev");
  const [error, setError] = useState<unknown>();
  return (
    <div role="tabpanel" aria-label={t("cluster.roles")}>
      <ErrorBox error={roles.error} />
      <ErrorBox error={error} title={t("cluster.refused")} />
      <table aria-label={t("cluster.roles")}>
        <thead>
          <tr>
            <th>{t("cluster.principal")}</th>
            <th>{t("cluster.role")}</th>
            <th>{t("cluster.grantedBy")}</th>
          </tr>
        </thead>
        <tbody>
          {(roles.data?.roles ?? []).map((r) => (
            <tr key={r.principal}>
              <td>{r.principal}</td>
              <td>{t(`role.${r.role}` as MessageKey)}</td>
              <td>{r.grantedBy}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="inline">
        <label htmlFor="grant-principal">{t("cluster.principal")}</label>
        <input id="grant-principal" value={principal} onChange={(e) => setPrincipal(e.target.value)} />
        <label htmlFor="grant-role">{t("cluster.role")}</label>
        <select id="grant-role" value={role} onChange={(e) => setRole(e.target.value)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {t(`role.${r}`)}
            </option>
          ))}
        </select>
        <button
          disabled={principal === ""}
          onClick={() => {
            setError(undefined);
            api("POST", `${path}/roles`, { principal, role }).then(roles.reload, setError);
          }}
        >
          {t("cluster.grant")}
        </button>
      </div>
    </div>
  );
}
