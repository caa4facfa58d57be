import { useState } from "react";
import { api } from "../api.js";
import { useT } from "../i18n.js";
import { ErrorBox, Link, Loading, useAsync } from "../ui.js";

interface User {
  UserName: string;
  UserId: string;
  DisplayName?: string;
  CreateDate?: string;
}
interface Role {
  RoleName: string;
  RoleId: string;
  Arn?: string;
  Description?: string;
}
interface Policy {
  PolicyName: string;
  PolicyType: string;
  Description?: string;
}

/** The seed documents' policy that keeps a user from enabling or disabling Secret encryption. */
export const DENY_UPDATE_KMS_ENCRYPTION = JSON.stringify({
  Version: "1",
  Statement: [{ Action: ["cs:UpdateKMSEncryption"], Effect: "Deny", Resource: ["*"] }],
});

export function RamPage() {
  const { t } = useT();
  const users = useAsync(() => api<{ users: User[] }>("GET", "/ram/users"), []);
  const roles = useAsync(() => api<{ roles: Role[] }>("GET", "/ram/roles"), []);
  const policies = useAsync(() => api<{ policies: Policy[] }>("GET", "/ram/policies"), []);
  const [error, setError] = useState<unknown>();
  const denyExists = policies.data?.policies.some((p) => p.PolicyName === t("ram.denyName")) ?? true;
  const createDeny = async () => {
    setError(undefined);
    try {
      await api("POST", "/ram/policies", {
        policyName: t("ram.denyName"),
        policyDocument: DENY_UPDATE_KMS_ENCRYPTION,
        description: "Deny cs:UpdateKMSEncryption (Secret encryption on/off)",
      });
    } catch (err) {
      setError(err);
    }
    policies.reload();
  };
  return (
    <section>
      <h1>{t("ram.title")}</h1>
      <h2>{t("ram.users")}</h2>
      <ErrorBox error={users.error} />
      {users.data === undefined ? (
        users.error === undefined ? (
          <Loading />
        ) : null
      ) : (
        <table aria-label={t("ram.users")}>
          <thead>
            <tr>
              <th>{t("ram.userName")}</th>
              <th>ID</th>
            </tr>
          </thead>
          <tbody>
            {users.data.users.map((u) => (
              <tr key={u.UserName}>
                <td>
                  <Link to={`/console/ram/users/${encodeURIComponent(u.UserName)}`}>{u.UserName}</Link>
                </td>
                <td>{u.UserId}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>{t("ram.roles")}</h2>
      <ErrorBox error={roles.error} />
      {roles.data === undefined ? null : (
        <table aria-label={t("ram.roles")}>
          <thead>
            <tr>
              <th>{t("ram.roleName")}</th>
              <th>ARN</th>
              <th>{t("ram.description")}</th>
            </tr>
          </thead>
          <tbody>
            {roles.data.roles.map((r) => (
              <tr key={r.RoleName}>
                <td>{r.RoleName}</td>
                <td>{r.Arn ?? ""}</td>
                <td>{r.Description ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>{t("ram.policies")}</h2>
      <ErrorBox error={policies.error ?? error} />
      {denyExists ? null : <button onClick={() => void createDeny()}>{t("ram.createDeny")}</button>}
      {policies.data === undefined ? null : (
        <table aria-label={t("ram.policies")}>
          <thead>
            <tr>
              <th>{t("ram.policyName")}</th>
              <th>{t("ram.policyType")}</th>
              <th>{t("ram.description")}</th>
            </tr>
          </thead>
          <tbody>
            {policies.data.policies.map((p) => (
              <tr key={`${p.PolicyType}/${p.PolicyName}`}>
                <td>{p.PolicyName}</td>
                <td>{p.PolicyType}</td>
                <td>{p.Description ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** A user: attached policies, attach (e.g. the deny policy) and detach. */
export function UserPage({ userName }: { userName: string }) {
  const { t } = useT();
  const path = `/ram/users/${encodeURIComponent(userName)}/policies`;
  const attached = useAsync(() => api<{ policies: Policy[] }>("GET", path), [path]);
  const all = useAsync(() => api<{ policies: Policy[] }>("GET", "/ram/policies"), []);
  const [choice, setChoice] = useState("");
  const [error, setError] = useState<unknown>();
  const change = async (suffix: string, p: { policyName: string; policyType: string }) => {
    setError(undefined);
    try {
      await api("POST", `${path}${suffix}`, p);
    } catch (err) {
      setError(err);
    }
    attached.reload();
  };
  const options = (all.data?.policies ?? []).filter(
    (p) => !(attached.data?.policies ?? []).some((a) => a.PolicyName === p.PolicyName),
  );
  return (
    <section>
      <p>
        <Link to="/console/ram">← {t("ram.title")}</Link>
      </p>
      <h1>{userName}</h1>
      <h2>{t("ram.attached")}</h2>
      <ErrorBox error={attached.error ?? error} />
      {attached.data === undefined ? null : (
        <table aria-label={t("ram.attached")}>
          <thead>
            <tr>
              <th>{t("ram.policyName")}</th>
              <th>{t("ram.policyType")}</th>
              <th>{t("common.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {attached.data.policies.map((p) => (
              <tr key={p.PolicyName}>
                <td>{p.PolicyName}</td>
                <td>{p.PolicyType}</td>
                <td>
                  <button
                    onClick={() =>
                      void change("/detach", { policyName: p.PolicyName, policyType: p.PolicyType })
                    }
                  >
                    {t("ram.detach")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="inline">
        <label>
          {t("ram.policyToAttach")}{" "}
          <select value={choice} onChange={(e) => setChoice(e.target.value)}>
            <option value="">—</option>
            {options.map((p) => (
              <option key={p.PolicyName} value={`${p.PolicyType}/${p.PolicyName}`}>
                {p.PolicyName} ({p.PolicyType})
              </option>
            ))}
          </select>
        </label>
        <button
          disabled={choice === ""}
          onClick={() => {
            const [policyType = "", ...rest] = choice.split("/");
            void change("", { policyType, policyName: rest.join("/") });
          }}
        >
          {t("ram.attach")}
        </button>
      </div>
    </section>
  );
}
