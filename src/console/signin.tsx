import { StrictMode, useEffect, useState, type FormEvent } from "react";
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

type Method = "password" | "accessKey";
const METHOD_KEY = "atrest-console-signin-method";

/**
 * The method shown first: the one last used in this browser; otherwise AccessKey, as before password
 * sign-in existed (scripts and habits that fill "AccessKey ID" keep working).
 */
function initialMethod(): Method {
  return localStorage.getItem(METHOD_KEY) === "password" ? "password" : "accessKey";
}

function useSignIn() {
  const [error, setError] = useState<ApiError | Error>();
  const [busy, setBusy] = useState(false);
  const run = async (method: Method, body: Record<string, string>) => {
    setBusy(true);
    setError(undefined);
    try {
      await api("POST", "/signin", body);
      localStorage.setItem(METHOD_KEY, method);
      location.assign(nextPage());
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
      setBusy(false);
    }
  };
  return { error, setError, busy, run };
}

function Failure({ error }: { error: Error | undefined }) {
  const { t } = useT();
  if (error === undefined) return null;
  return (
    <p role="alert" className="error">
      {t("signin.failed")}: {error.message}
    </p>
  );
}

function PasswordForm() {
  const { t } = useT();
  const { error, setError, busy, run } = useSignIn();
  const [resetRequired, setResetRequired] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const body: Record<string, string> = {
      userName: field(form, "userName").trim(),
      password: field(form, "password"),
    };
    if (resetRequired) {
      const next = field(form, "newPassword");
      if (next !== field(form, "confirmPassword")) {
        setError(new Error(t("signin.mismatch")));
        return;
      }
      body["newPassword"] = next;
    }
    await run("password", body);
  };
  useEffect(() => {
    if (error instanceof ApiError && error.code === "SignIn.PasswordResetRequired") setResetRequired(true);
  }, [error]);
  const showError =
    error instanceof ApiError && error.code === "SignIn.PasswordResetRequired" ? undefined : error;
  return (
    <form onSubmit={(e) => void submit(e)} autoComplete="off">
      <label>
        {t("signin.userName")}
        <input
          name="userName"
          required
          autoComplete="username"
          spellCheck={false}
          aria-describedby="user-name-hint"
          readOnly={resetRequired}
        />
      </label>
      <small id="user-name-hint" className="muted">
        {t("signin.userNameHint")}
      </small>
      <label>
        {t("signin.password")}
        <input
          name="password"
          type="password"
          required
          autoComplete="current-password"
          readOnly={resetRequired}
        />
      </label>
      {resetRequired ? (
        <>
          <p role="status" className="notice">
            {t("signin.resetRequired")}
          </p>
          <label>
            {t("signin.newPassword")}
            <input
              name="newPassword"
              type="password"
              required
              autoComplete="new-password"
              aria-describedby="password-rules"
            />
          </label>
          <small id="password-rules" className="muted">
            {t("signin.passwordRules")}
          </small>
          <label>
            {t("signin.confirmPassword")}
            <input name="confirmPassword" type="password" required autoComplete="new-password" />
          </label>
        </>
      ) : null}
      <Failure error={showError} />
      <button type="submit" disabled={busy}>
        {resetRequired ? t("signin.setAndSignIn") : t("signin.submit")}
      </button>
    </form>
  );
}

function AccessKeyForm() {
  const { t } = useT();
  const { error, busy, run } = useSignIn();
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    await run("accessKey", {
      accessKeyId: field(form, "accessKeyId").trim(),
      accessKeySecret: field(form, "accessKeySecret"),
    });
  };
  return (
    <form onSubmit={(e) => void submit(e)} autoComplete="off">
      <label>
        {t("signin.accessKeyId")}
        <input name="accessKeyId" required autoComplete="username" spellCheck={false} />
      </label>
      <label>
        {t("signin.accessKeySecret")}
        <input name="accessKeySecret" type="password" required autoComplete="current-password" />
      </label>
      <Failure error={error} />
      <button type="submit" disabled={busy}>
        {t("signin.submit")}
      </button>
    </form>
  );
}

function SignIn() {
  const { t } = useT();
  const [passwordOffered, setPasswordOffered] = useState(false);
  const [method, setMethod] = useState<Method>(initialMethod);
  useEffect(() => {
    api<{ password: boolean }>("GET", "/signin-options").then(
      (o) => setPasswordOffered(o.password),
      () => setPasswordOffered(false),
    );
  }, []);
  const shown: Method = passwordOffered ? method : "accessKey";
  const tab = (m: Method, label: string) => (
    <button
      type="button"
      role="tab"
      id={`tab-${m}`}
      aria-selected={shown === m}
      aria-controls="signin-panel"
      onClick={() => setMethod(m)}
    >
      {label}
    </button>
  );
  return (
    <main className="signin">
      <header className="signin-head">
        <h1>{t("signin.title")}</h1>
        <LangSwitch />
      </header>
      <div role="tablist" aria-label={t("signin.tabs")} className="tabs">
        {passwordOffered ? tab("password", t("signin.tab.password")) : null}
        {tab("accessKey", t("signin.tab.accessKey"))}
      </div>
      <div role="tabpanel" id="signin-panel">
        {shown === "password" ? <PasswordForm /> : <AccessKeyForm />}
      </div>
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
