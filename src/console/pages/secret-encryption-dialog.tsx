import { useState } from "react";
import { api } from "../api.js";
import { useT } from "../i18n.js";
import { Dialog, ErrorBox, Loading, useAsync } from "../ui.js";
import { CreateKeyDialog } from "./kms-page.js";
import type { ConsoleKey } from "./kms-types.js";

/** Keys a cluster's Secrets may be encrypted with: enabled, Aliyun_AES_256, ENCRYPT/DECRYPT. */
export function usableForSecrets(k: ConsoleKey): boolean {
  return (
    k.metadata.KeyState === "Enabled" &&
    k.metadata.KeySpec === "Aliyun_AES_256" &&
    k.metadata.KeyUsage === "ENCRYPT/DECRYPT"
  );
}

/** Turning Secret Encryption on: pick the key (protection shown) or create one, then OK. */
export function EnableDialog({
  region,
  onOk,
  onClose,
}: {
  region: string;
  onOk: (keyId: string) => Promise<void>;
  onClose: () => void;
}) {
  const { t } = useT();
  const keys = useAsync(() => api<{ keys: ConsoleKey[] }>("GET", "/kms/keys"), []);
  const [chosen, setChosen] = useState("");
  const [creating, setCreating] = useState(false);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const usable = (keys.data?.keys ?? []).filter(usableForSecrets);
  const selected = chosen !== "" ? chosen : (usable[0]?.metadata.KeyId ?? "");
  const label = (k: ConsoleKey) =>
    `${k.aliases[0] ?? k.metadata.KeyId} · ${k.metadata.KeyId} · ${t(
      k.metadata.ProtectionLevel === "HSM" ? "kms.protection.HSM" : "kms.protection.SOFTWARE",
    )}`;
  return (
    <Dialog title={t("cluster.secretEncryption")} onClose={onClose}>
      <p>{t("cluster.chooseKey", { region })}</p>
      <ErrorBox error={keys.error} />
      {keys.data === undefined && keys.error === undefined ? <Loading /> : null}
      {keys.data !== undefined && usable.length === 0 ? <p>{t("cluster.noKeys")}</p> : null}
      <div className="form">
        <label>
          {t("cluster.kmsKey")}
          <select value={selected} onChange={(e) => setChosen(e.target.value)}>
            {usable.map((k) => (
              <option key={k.metadata.KeyId} value={k.metadata.KeyId}>
                {label(k)}
              </option>
            ))}
          </select>
        </label>
        <div>
          <button type="button" onClick={() => setCreating(true)}>
            {t("kms.create")}
          </button>
        </div>
      </div>
      <ErrorBox error={error} title={t("cluster.refused")} />
      <div className="buttons">
        <button onClick={onClose}>{t("common.cancel")}</button>
        <button
          className="primary"
          disabled={selected === "" || busy}
          onClick={() => {
            setBusy(true);
            setError(undefined);
            onOk(selected).catch((err: unknown) => {
              setError(err);
              setBusy(false);
            });
          }}
        >
          {t("common.ok")}
        </button>
      </div>
      {creating ? (
        <CreateKeyDialog
          onClose={() => setCreating(false)}
          onDone={(id) => {
            setCreating(false);
            setChosen(id);
            keys.reload();
          }}
        />
      ) : null}
    </Dialog>
  );
}

/** Turning it off: says plainly that Secrets will be stored in plaintext, then OK. */
export function DisableDialog({ onOk, onClose }: { onOk: () => Promise<void>; onClose: () => void }) {
  const { t } = useT();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title={t("cluster.secretEncryption")} onClose={onClose}>
      <p className="warning">{t("cluster.disableWarning")}</p>
      <ErrorBox error={error} title={t("cluster.refused")} />
      <div className="buttons">
        <button onClick={onClose}>{t("common.cancel")}</button>
        <button
          className="danger"
          disabled={busy}
          onClick={() => {
            setBusy(true);
            setError(undefined);
            onOk().catch((err: unknown) => {
              setError(err);
              setBusy(false);
            });
          }}
        >
          {t("common.ok")}
        </button>
      </div>
    </Dialog>
  );
}
