import { useState, type FormEvent } from "react";
import { api } from "../api.js";
import { useT } from "../i18n.js";
import { Dialog, ErrorBox, Loading, field, useAsync } from "../ui.js";
import type { ClusterView } from "./cluster-types.js";
import type { ConsoleKey } from "./kms-types.js";
import { usableForSecrets } from "./secret-encryption-dialog.js";

/**
 * The seed documents' new-cluster flow: name, the region (this console's), storage (embedded SQLite
 * or an etcd), and under Advanced options Secret Encryption with "Select Key" among the region's keys
 * usable for it (Enabled, Aliyun_AES_256; protection shown). The service decides: a deny policy or a
 * bad name is refused with its code and message, shown as given.
 */
export function CreateClusterDialog({
  region,
  onCreated,
  onClose,
}: {
  region: string;
  onCreated: (c: ClusterView) => void;
  onClose: () => void;
}) {
  const { t } = useT();
  const [storage, setStorage] = useState<"sqlite" | "etcd">("sqlite");
  const [encrypt, setEncrypt] = useState(false);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const keys = useAsync(
    () => (encrypt ? api<{ keys: ConsoleKey[] }>("GET", "/kms/keys") : Promise.resolve({ keys: [] })),
    [encrypt],
  );
  const usable = (keys.data?.keys ?? []).filter(usableForSecrets);
  const label = (k: ConsoleKey) =>
    `${k.aliases[0] ?? k.metadata.KeyId} · ${k.metadata.KeyId} · ${t(
      k.metadata.ProtectionLevel === "HSM" ? "kms.protection.HSM" : "kms.protection.SOFTWARE",
    )}`;
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const name = field(form, "name").trim();
    setError(undefined);
    const keyId = field(form, "kmsKeyId");
    const endpoints = field(form, "etcdEndpoints")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    setBusy(true);
    try {
      const r = await api<{ cluster: ClusterView }>("POST", "/clusters", {
        name,
        ...(encrypt && keyId !== "" ? { kmsKeyId: keyId } : {}),
        storage: storage === "etcd" ? { kind: "etcd", endpoints } : { kind: "sqlite" },
      });
      onCreated(r.cluster);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title={t("create.title")} onClose={onClose}>
      <form className="form" onSubmit={(e) => void submit(e)} autoComplete="off">
        <label>
          {t("create.name")}
          <input
            name="name"
            required
            maxLength={63}
            spellCheck={false}
            aria-describedby="create-name-hint"
            onChange={() => setError(undefined)}
          />
        </label>
        <small id="create-name-hint" className="muted">
          {t("create.nameHint")}
        </small>
        <label>
          {t("create.region")}
          <input name="region" value={region} readOnly />
        </label>
        <fieldset>
          <legend>{t("create.storage")}</legend>
          <label className="inline">
            <input
              type="radio"
              name="storage"
              checked={storage === "sqlite"}
              onChange={() => setStorage("sqlite")}
            />
            {t("create.storage.sqlite")}
          </label>
          <label className="inline">
            <input
              type="radio"
              name="storage"
              checked={storage === "etcd"}
              onChange={() => setStorage("etcd")}
            />
            {t("create.storage.etcd")}
          </label>
          {storage === "etcd" ? (
            <>
              <label>
                {t("create.etcdEndpoints")}
                <input name="etcdEndpoints" required spellCheck={false} aria-describedby="create-etcd-hint" />
              </label>
              <small id="create-etcd-hint" className="muted">
                {t("create.etcdHint")}
              </small>
            </>
          ) : null}
        </fieldset>
        <details>
          <summary>{t("create.advanced")}</summary>
          <label className="inline">
            <input type="checkbox" checked={encrypt} onChange={(e) => setEncrypt(e.target.checked)} />
            {t("create.secretEncryption")}
          </label>
          {encrypt ? (
            <>
              <ErrorBox error={keys.error} />
              {keys.loading ? <Loading /> : null}
              {keys.data !== undefined && usable.length === 0 ? <p>{t("cluster.noKeys")}</p> : null}
              <label>
                {t("create.selectKey")}
                <select name="kmsKeyId" required aria-describedby="create-key-hint">
                  {usable.map((k) => (
                    <option key={k.metadata.KeyId} value={k.metadata.KeyId}>
                      {label(k)}
                    </option>
                  ))}
                </select>
              </label>
              <small id="create-key-hint" className="muted">
                {t("create.keyHint")}
              </small>
            </>
          ) : (
            <p className="muted">{t("create.noKey")}</p>
          )}
        </details>
        <ErrorBox error={error} title={t("cluster.refused")} />
        <div className="buttons">
          <button type="button" onClick={onClose}>
            {t("common.cancel")}
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {t("create.submit")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** Delete Cluster: confirmed by typing the cluster's name, as the seed documents' console asks. */
export function DeleteClusterDialog({
  cluster,
  onDeleted,
  onClose,
}: {
  cluster: ClusterView;
  onDeleted: () => void;
  onClose: () => void;
}) {
  const { t } = useT();
  const [typed, setTyped] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title={t("delete.title")} onClose={onClose}>
      <p className="warning">{t("delete.confirm", { name: cluster.name })}</p>
      <div className="form">
        <label>
          {t("delete.confirmName")}
          <input value={typed} onChange={(e) => setTyped(e.target.value)} spellCheck={false} />
        </label>
      </div>
      <ErrorBox error={error} title={t("cluster.refused")} />
      <div className="buttons">
        <button onClick={onClose}>{t("common.cancel")}</button>
        <button
          className="danger"
          disabled={busy || typed !== cluster.name}
          onClick={() => {
            setBusy(true);
            setError(undefined);
            api("DELETE", `/clusters/${encodeURIComponent(cluster.clusterId)}`, {}).then(
              onDeleted,
              (err: unknown) => {
                setError(err);
                setBusy(false);
              },
            );
          }}
        >
          {t("delete.submit")}
        </button>
      </div>
    </Dialog>
  );
}
