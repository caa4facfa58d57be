import { api } from "../api.js";
import { useT } from "../i18n.js";
import { ErrorBox, Link, Loading, useAsync } from "../ui.js";
import type { ClusterView } from "./cluster-types.js";
import { StateBadge } from "./state-badge.js";

export function ClustersPage() {
  const { t } = useT();
  const list = useAsync(() => api<{ clusters: ClusterView[] }>("GET", "/clusters"), []);
  return (
    <section>
      <div className="page-head">
        <h1>{t("clusters.title")}</h1>
        <button onClick={list.reload}>{t("common.refresh")}</button>
      </div>
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
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
