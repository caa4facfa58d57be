import { useState } from "react";
import { api, ApiError } from "../api.js";
import { useT } from "../i18n.js";
import { ErrorBox, useAsync } from "../ui.js";

/** The cs API's refusal to enable while the service role is missing or lacks its policy. */
export const SERVICE_ROLE_REFUSAL = "ErrorRamRoleNotAuthorized";

interface ServiceRoleState {
  roleName: string;
  policyName: string;
  accountId: string;
  /** null: RAM does not let this user read the role (the refusal to enable still says why). */
  exists: boolean | null;
  authorized: boolean | null;
  /** RAM's answer for this user: may it create the role and attach its policy? */
  canAuthorize: boolean;
  missingPermissions: string[];
}

/**
 * ACK's quick authorization, when the service role is missing (or the cs API refused to enable for
 * it): to a user RAM lets create the role, a "Quick authorization" action that creates it; to others,
 * whom to ask. Which of the two is RAM's decision, answered by the console's API — never the page's.
 */
export function ServiceRoleNotice({ refusal, onAuthorized }: { refusal: unknown; onAuthorized: () => void }) {
  const { t } = useT();
  const refused = refusal instanceof ApiError && refusal.code === SERVICE_ROLE_REFUSAL;
  const role = useAsync(() => api<ServiceRoleState>("GET", "/service-role"), [refusal]);
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState(false);
  const r = role.data;
  if (done)
    return (
      <div className="notice" role="status">
        <p>{t("ops.authorized")}</p>
      </div>
    );
  if (r === undefined) return null;
  const missing = r.exists === false || r.authorized === false || (refused && r.authorized !== true);
  if (!missing) return null;
  return (
    <div className="notice" role="region" aria-label={t("ops.authorize")}>
      <p>
        {r.exists === false
          ? t("ops.roleMissing")
          : r.authorized === false
            ? t("ops.roleUnauthorized", { policy: r.policyName })
            : t("ops.roleNeeded", { policy: r.policyName })}
      </p>
      {r.canAuthorize ? (
        <>
          <p className="muted">{t("ops.authorizeWhat")}</p>
          <button
            className="primary"
            onClick={() => {
              setError(undefined);
              api("POST", "/service-role").then(() => {
                setDone(true);
                onAuthorized();
              }, setError);
            }}
          >
            {t("ops.authorize")}
          </button>
        </>
      ) : (
        <p>
          {t("ops.askWhom", {
            reason: r.missingPermissions.join(", "),
            account: r.accountId,
          })}
        </p>
      )}
      <ErrorBox error={error} title={t("cluster.refused")} />
    </div>
  );
}
