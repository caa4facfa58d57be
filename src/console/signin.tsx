import { StrictMode, useState, type FormEvent } from "react";
import { createRoot } from "react-dom/client";
import { api, ApiError } from "./api.js";
import { useT } from "./i18n.js";
import { field } from "./ui.js";
import { LangProvider, LangSwitch } from "./lang-provider.js";
import "./styles.css";

/** Only a path of the console: never an address elsewhere (no open redirect). */
function nextPage(): string {
  const next = new URLSearchParams(location.search).get("next") ?? "";
  return /^\/console\/[\w\-/%.]*$/.test(next) && !next.includes("//") ? next : "/console/";
}

function SignIn() {
  const { t } = useT();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    setError(undefined);
    try {
      await api("POST", "/signin", {
        accessKeyId: field(form, "accessKeyId").trim(),
        accessKeySecret: field(form, "accessKeySecret"),
      });
      location.assign(nextPage());
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <header className="signin-head">
        <h1>{t("signin.title")}</h1>
        <LangSwitch />
      </header>
      <form onSubmit={(e) => void submit(e)} autoComplete="off">
        <label>
          {t("signin.accessKeyId")}
          <input name="accessKeyId" required autoComplete="username" spellCheck={false} />
        </label>
        <label>
          {t("signin.accessKeySecret")}
          <input name="accessKeySecret" type="password" required autoComplete="current-password" />
        </label>
        {error === undefined ? null : (
          <p role="alert" className="error">
            {t("signin.failed")}: {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {t("signin.submit")}
        </button>
      </form>
    </main>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <LangProvider>
      <SignIn />
    </LangProvider>
  </StrictMode>,
);
