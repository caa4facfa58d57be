import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { api, loadSession, type SessionInfo } from "./api.js";
import { useT } from "./i18n.js";
import { LangProvider, LangSwitch } from "./lang-provider.js";
import { ClusterPage } from "./pages/cluster-page.js";
import { ClustersPage } from "./pages/clusters-page.js";
import { EventsPage } from "./pages/events-page.js";
import { KeyPage } from "./pages/key-page.js";
import { KmsPage } from "./pages/kms-page.js";
import { RamPage, UserPage } from "./pages/ram-page.js";
import { match, useLocation } from "./router.js";
import { ErrorBox, Link, Loading } from "./ui.js";
import "./styles.css";

function Page({ path, search, clusters }: { path: string; search: URLSearchParams; clusters?: boolean }) {
  let m: Record<string, string> | undefined;
  // Each page loads its data at once, beside the session request (only "/" waits for it).
  if ((m = match("/clusters/:clusterId", path))) return <ClusterPage clusterId={m["clusterId"]!} />;
  if (match("/clusters", path)) return <ClustersPage />;
  if ((m = match("/kms/keys/:keyId", path))) return <KeyPage keyId={m["keyId"]!} />;
  if (match("/kms", path)) return <KmsPage />;
  if (match("/events", path)) return <EventsPage search={search} />;
  if ((m = match("/ram/users/:userName", path))) return <UserPage userName={m["userName"]!} />;
  if (match("/ram", path)) return <RamPage />;
  if (clusters === undefined) return <Loading />;
  return clusters ? <ClustersPage /> : <KmsPage />;
}

function App() {
  const { t } = useT();
  const { path, search } = useLocation();
  const [session, setSession] = useState<SessionInfo>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    loadSession().then(setSession, setError);
  }, []);
  const signOut = async () => {
    await api("POST", "/signout").catch(() => undefined);
    location.assign("/console/signin");
  };
  const nav = (to: string, label: string) => (
    <Link to={to} className={path.startsWith(to) ? "active" : ""}>
      {label}
    </Link>
  );
  return (
    <>
      <header className="top">
        <span className="brand">{t("app.title")}</span>
        <nav aria-label="main">
          {session?.clusters === true ? nav("/console/clusters", t("nav.clusters")) : null}
          {nav("/console/kms", t("nav.kms"))}
          {nav("/console/events", t("nav.events"))}
          {nav("/console/ram", t("nav.ram"))}
        </nav>
        <span className="spacer" />
        <LangSwitch />
        {session === undefined ? null : (
          <span className="who" title={session.identity.arn}>
            {session.identity.displayName} · {session.regionId}
          </span>
        )}
        <button onClick={() => void signOut()}>{t("nav.signOut")}</button>
      </header>
      <main className="content">
        <ErrorBox error={error} />
        <Page
          path={path}
          search={search}
          {...(session === undefined ? {} : { clusters: session.clusters })}
        />
      </main>
    </>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <LangProvider>
      <App />
    </LangProvider>
  </StrictMode>,
);
