import { useEffect, useState } from "react";
import { api, loadSession } from "../api.js";
import { useT } from "../i18n.js";
import { ErrorBox, Link, Loading, useAsync } from "../ui.js";
import type { ClusterView } from "./cluster-types.js";
import { CreateClusterDialog, DeleteClusterDialog } from "./create-cluster-dialog.js";
import { StateBadge } from "./state-badge.js";

export function ClustersPage() {
  const { t } = useT();
  const list = useAsync(() => api<{ clusters: ClusterView[] }>("GET", "/clusters"), []);
  const [region, setRegion] = useState("");
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<ClusterView>();
  const [created, setCreated] = useState<string>();
  useEffect(() => {
    loadSession().then(
      (s) => setRegion(s.regionId),
      () => undefined,
    );
  }, []);
  return (
    <section>
      <div className="page-head">
        <h1>{t("clusters.title")}</h1>
        <div className="buttons">
          <button className="primary" onClick={() => setCreating(true)}>
            {t("create.button")}
          </button>
          <button onClick={list.reload}>{t("common.refresh")}</button>
        </div>
      </div>
      {created === undefined ? null : (
        <p role="status" className="notice">
          {t("create.created", { name: created })}
        </p>
      )}
      {creating ? (
        <CreateClusterDialog
          region={region}
          onClose={() => setCreating(false)}
          onCreated={(c) => {
            setCreating(false);
            setCreated(c.name);
            list.reload();
          }}
        />
      ) : null}
      {deleting === undefined ? null : (
        <DeleteClusterDialog
          cluster={deleting}
          onClose={() => setDeleting(undefined)}
          onDeleted={() => {
            setDeleting(undefined);
            setCreated(undefined);
            list.reload();
          }}
        />
      )}
      <ErrorBox error={list.error} />
      {list.data === undefined ? (
        list.error === undefined ? (
          <Loading />
        ) : null
      ) : list.data.clusters.length === 0 ? (
        <p>{t("clusters.none")}</p>
      ) : (
        <table aria-label={t("clusters.title")}>
          <thead>
            <tr>
              <th>{t("clusters.name")}</th>
              <th>{t("clusters.id")}</th>
              <th>{t("clusters.region")}</th>
              <th>{t("clusters.state")}</th>
              <th>{t("clusters.encryption")}</th>
              <th>{t("clusters.key")}</th>
              <th>{t("common.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {list.data.clusters.map((c) => (
              <tr key={c.clusterId}>
                <td>
                  <Link to={`/console/clusters/${encodeURIComponent(c.clusterId)}`}>{c.name}</Link>
                </td>
                <td>{c.clusterId}</td>
                <td>{c.regionId}</td>
                <td>
                  <StateBadge state={c.state} />
                </td>
                <td>{c.encryptionEnabled ? t("clusters.on") : t("clusters.off")}</td>
                <td>
                  {c.kmsKeyId === "" ? (
                    "—"
                  ) : (
                    <Link to={`/console/kms/keys/${encodeURIComponent(c.kmsKeyId)}`}>{c.kmsKeyId}</Link>
                  )}
                </td>
                <td>
                  <button
                    className="danger"
                    aria-label={`${t("delete.button")} ${c.name}`}
                    onClick={() => setDeleting(c)}
                  >
                    {t("delete.button")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
