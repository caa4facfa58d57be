import { useState } from "react";
import { api } from "../api.js";
import { useT } from "../i18n.js";
import { Badge, ErrorBox, Link, Loading, useAsync } from "../ui.js";
import { rotationDays, type ConsoleKey, type KeyVersion } from "./kms-types.js";
import { stateTone } from "./kms-page.js";

/** One key: its settings, versions and the clusters using it; each action shows its refusal plainly. */
export function KeyPage({ keyId }: { keyId: string }) {
  const { t } = useT();
  const path = `/kms/keys/${encodeURIComponent(keyId)}`;
  const key = useAsync(() => api<ConsoleKey & { versions: KeyVersion[] }>("GET", path), [path]);
  const [refusal, setRefusal] = useState<unknown>();
  const [done, setDone] = useState<string>();
  const [pendingDays, setPendingDays] = useState("7");
  const act = async (label: string, action: string, body?: unknown) => {
    setRefusal(undefined);
    setDone(undefined);
    try {
      await api("POST", `${path}/${action}`, body);
      setDone(label);
    } catch (err) {
      setRefusal(err);
    }
    key.reload();
  };
  if (key.data === undefined) return key.error === undefined ? <Loading /> : <ErrorBox error={key.error} />;
  const md = key.data.metadata;
  const days = rotationDays(md.RotationInterval);
  const pending = md.KeyState === "PendingDeletion";
  return (
    <section>
      <p>
        <Link to="/console/kms">← {t("kms.title")}</Link>
      </p>
      <div className="page-head">
        <h1>{md.KeyId}</h1>
        <Badge tone={stateTone(md.KeyState)}>{md.KeyState}</Badge>
      </div>
      <dl className="facts">
        <dt>{t("kms.alias")}</dt>
        <dd>{key.data.aliases.join(", ") || "—"}</dd>
        <dt>{t("kms.spec")}</dt>
        <dd>
          {md.KeySpec} · {md.KeyUsage}
        </dd>
        <dt>{t("kms.protection")}</dt>
        <dd>{t(md.ProtectionLevel === "HSM" ? "kms.protection.HSM" : "kms.protection.SOFTWARE")}</dd>
        <dt>{t("kms.rotation")}</dt>
        <dd>
          {md.AutomaticRotation === "Enabled" && days !== undefined
            ? t("kms.rotationEvery", { days })
            : t("common.disabled")}
        </dd>
        <dt>{t("kms.deletionProtection")}</dt>
        <dd>{md.DeletionProtection === "Enabled" ? t("common.enabled") : t("common.disabled")}</dd>
        <dt>{t("kms.clusters")}</dt>
        <dd>
          {key.data.clusters.length === 0
            ? "—"
            : key.data.clusters.map((c) => (
                <span key={c.cluster} className="chip">
                  {c.cluster} ({c.use})
                </span>
              ))}
        </dd>
        <dt>{t("kms.created")}</dt>
        <dd>{md.CreationDate}</dd>
        {md.DeleteDate === undefined ? null : (
          <>
            <dt>{t("kms.deleteDate")}</dt>
            <dd>{md.DeleteDate}</dd>
          </>
        )}
        <dt>{t("kms.description")}</dt>
        <dd>{md.Description || "—"}</dd>
      </dl>
      <div className="buttons">
        {md.KeyState === "Disabled" ? (
          <button onClick={() => void act(t("kms.enable"), "enable")}>{t("kms.enable")}</button>
        ) : null}
        {md.KeyState === "Enabled" ? (
          <button onClick={() => void act(t("kms.disable"), "disable")}>{t("kms.disable")}</button>
        ) : null}
        {md.KeyState === "Enabled" ? (
          <button onClick={() => void act(t("kms.rotateNow"), "rotate")}>{t("kms.rotateNow")}</button>
        ) : null}
        <button
          onClick={() =>
            void act(
              md.DeletionProtection === "Enabled" ? t("kms.protectOff") : t("kms.protectOn"),
              "deletion-protection",
              { enabled: md.DeletionProtection !== "Enabled" },
            )
          }
        >
          {md.DeletionProtection === "Enabled" ? t("kms.protectOff") : t("kms.protectOn")}
        </button>
        {pending ? (
          <button onClick={() => void act(t("kms.cancelDeletion"), "cancel-deletion")}>
            {t("kms.cancelDeletion")}
          </button>
        ) : (
          <span className="inline">
            <label>
              {t("kms.pendingWindow")}{" "}
              <input
                type="number"
                min={7}
                max={366}
                value={pendingDays}
                onChange={(e) => setPendingDays(e.target.value)}
              />
            </label>
            <button
              className="danger"
              onClick={() =>
                void act(t("kms.scheduleDeletion"), "schedule-deletion", {
                  pendingWindowInDays: Number(pendingDays),
                })
              }
            >
              {t("kms.scheduleDeletion")}
            </button>
          </span>
        )}
      </div>
      <ErrorBox error={refusal} title={t("kms.refused")} />
      {done === undefined ? null : (
        <p role="status">
          {t("kms.done")}: {done}
        </p>
      )}
      <h2>{t("kms.versions")}</h2>
      <table>
        <thead>
          <tr>
            <th>{t("kms.versionId")}</th>
            <th>{t("kms.created")}</th>
          </tr>
        </thead>
        <tbody>
          {key.data.versions.map((v) => (
            <tr key={v.KeyVersionId}>
              <td>
                {v.KeyVersionId}{" "}
                {v.KeyVersionId === md.PrimaryKeyVersion ? <Badge tone="ok">{t("kms.primary")}</Badge> : null}
              </td>
              <td>{v.CreationDate}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
