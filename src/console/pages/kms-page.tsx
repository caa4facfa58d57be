import { useState, type FormEvent } from "react";
import { api } from "../api.js";
import { useT } from "../i18n.js";
import { Badge, Dialog, ErrorBox, field, Link, Loading, useAsync } from "../ui.js";
import { rotationDays, type ConsoleKey } from "./kms-types.js";

export function stateTone(state: string): "ok" | "busy" | "bad" | "muted" {
  if (state === "Enabled") return "ok";
  if (state === "PendingDeletion") return "bad";
  return "muted";
}

/** Create Key: an Aliyun_AES_256 ENCRYPT/DECRYPT key, software or HSM, with optional rotation. */
export function CreateKeyDialog({
  onDone,
  onClose,
}: {
  onDone: (keyId: string) => void;
  onClose: () => void;
}) {
  const { t } = useT();
  const [error, setError] = useState<unknown>();
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const days = field(f, "rotationDays").trim();
    try {
      const r = await api<{ keyId: string }>("POST", "/kms/keys", {
        description: field(f, "description"),
        protectionLevel: field(f, "protectionLevel"),
        ...(days === "" ? {} : { rotationDays: Number(days) }),
      });
      onDone(r.keyId);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Dialog title={t("kms.create")} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)} className="form">
        <label>
          {t("kms.description")}
          <input name="description" maxLength={8192} />
        </label>
        <label>
          {t("kms.protection")}
          <select name="protectionLevel" defaultValue="SOFTWARE">
            <option value="SOFTWARE">{t("kms.protection.SOFTWARE")}</option>
            <option value="HSM">{t("kms.protection.HSM")}</option>
          </select>
        </label>
        <label>
          {t("kms.rotationDays")}
          <input name="rotationDays" type="number" min={7} max={730} />
        </label>
        <ErrorBox error={error} />
        <div className="buttons">
          <button type="button" onClick={onClose}>
            {t("common.cancel")}
          </button>
          <button type="submit" className="primary">
            {t("common.ok")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function KmsPage() {
  const { t } = useT();
  const keys = useAsync(() => api<{ keys: ConsoleKey[] }>("GET", "/kms/keys"), []);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<string>();
  return (
    <section>
      <div className="page-head">
        <h1>{t("kms.title")}</h1>
        <button className="primary" onClick={() => setCreating(true)}>
          {t("kms.create")}
        </button>
      </div>
      {created === undefined ? null : <p role="status">{t("kms.created.ok", { id: created })}</p>}
      <ErrorBox error={keys.error} />
      {keys.loading && keys.data === undefined ? <Loading /> : null}
      {keys.data === undefined ? null : (
        <table>
          <thead>
            <tr>
              <th>{t("kms.keyId")}</th>
              <th>{t("kms.alias")}</th>
              <th>{t("kms.state")}</th>
              <th>{t("kms.protection")}</th>
              <th>{t("kms.rotation")}</th>
              <th>{t("kms.deletionProtection")}</th>
              <th>{t("kms.clusters")}</th>
            </tr>
          </thead>
          <tbody>
            {keys.data.keys.map((k) => {
              const days = rotationDays(k.metadata.RotationInterval);
              return (
                <tr key={k.metadata.KeyId}>
                  <td>
                    <Link to={`/console/kms/keys/${encodeURIComponent(k.metadata.KeyId)}`}>
                      {k.metadata.KeyId}
                    </Link>
                  </td>
                  <td>{k.aliases.join(", ")}</td>
                  <td>
                    <Badge tone={stateTone(k.metadata.KeyState)}>{k.metadata.KeyState}</Badge>
                  </td>
                  <td>
                    {t(
                      k.metadata.ProtectionLevel === "HSM" ? "kms.protection.HSM" : "kms.protection.SOFTWARE",
                    )}
                  </td>
                  <td>
                    {k.metadata.AutomaticRotation === "Enabled" && days !== undefined
                      ? t("kms.rotationEvery", { days })
                      : t("common.disabled")}
                  </td>
                  <td>
                    {k.metadata.DeletionProtection === "Enabled" ? t("common.enabled") : t("common.disabled")}
                  </td>
                  <td>
                    {k.clusters.length === 0
                      ? "—"
                      : k.clusters.map((c) => `${c.cluster} (${c.use})`).join(", ")}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {creating ? (
        <CreateKeyDialog
          onClose={() => setCreating(false)}
          onDone={(id) => {
            setCreating(false);
            setCreated(id);
            keys.reload();
          }}
        />
      ) : null}
    </section>
  );
}
