import { useEffect, useState, type FormEvent } from "react";
import { api } from "../api.js";
import { useT } from "../i18n.js";
import { Dialog, ErrorBox, field, Loading } from "../ui.js";

interface TrailEvent {
  eventId: string;
  eventName: string;
  eventTime: string;
  serviceName: string;
  sourceIpAddress?: string;
  userIdentity?: { type?: string; userName?: string; principalId?: string };
  resourceName?: string;
  [k: string]: unknown;
}

interface Filters {
  startTime?: string;
  endTime?: string;
  eventName?: string;
  serviceName?: string;
  user?: string;
  resourceName?: string;
}

/** datetime-local (local time, no zone) → ISO 8601 UTC. */
const toIso = (local: string) => (local === "" ? undefined : new Date(local).toISOString());

/**
 * ActionTrail's Event Query: time range, event name, service, user or role, resource; newest first,
 * a page at a time (NextToken); each event's full record. The URL's query pre-fills the filters (the
 * cluster page links here with its key and the service role).
 */
export function EventsPage({ search }: { search: URLSearchParams }) {
  const { t } = useT();
  const initial: Filters = {};
  for (const k of ["eventName", "serviceName", "user", "resourceName"] as const) {
    const v = search.get(k);
    if (v !== null && v !== "") initial[k] = v;
  }
  const [filters, setFilters] = useState<Filters>(initial);
  const [pages, setPages] = useState<Array<string | undefined>>([undefined]);
  const [result, setResult] = useState<{ events: TrailEvent[]; nextToken?: string }>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<TrailEvent>();

  const load = async (f: Filters, token: string | undefined) => {
    setBusy(true);
    setError(undefined);
    try {
      const body: Record<string, string> = {};
      for (const [k, v] of Object.entries(f) as Array<[string, string | undefined]>)
        if (v !== undefined && v !== "") body[k] = v;
      if (token !== undefined) body["nextToken"] = token;
      setResult(await api("POST", "/events/lookup", body));
    } catch (err) {
      setError(err);
      setResult(undefined);
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const d = new FormData(e.currentTarget);
    const f: Filters = {};
    const s = toIso(field(d, "startTime"));
    const en = toIso(field(d, "endTime"));
    if (s !== undefined) f.startTime = s;
    if (en !== undefined) f.endTime = en;
    for (const k of ["eventName", "serviceName", "user", "resourceName"] as const) {
      const v = field(d, k).trim();
      if (v !== "") f[k] = v;
    }
    setFilters(f);
    setPages([undefined]);
    void load(f, undefined);
  };
  // A pre-filtered link (the cluster page's, for its key and the service role) shows its results at once.
  const [linked] = useState(() => Object.keys(initial).length > 0);
  useEffect(() => {
    if (linked) void load(initial, undefined);
    // Once, on arrival: later searches come from the form.
  }, [linked]);
  const page = pages.length;
  return (
    <section>
      <h1>{t("events.title")}</h1>
      <form className="filters" onSubmit={submit}>
        <label>
          {t("events.start")}
          <input name="startTime" type="datetime-local" step={1} />
        </label>
        <label>
          {t("events.end")}
          <input name="endTime" type="datetime-local" step={1} />
        </label>
        <label>
          {t("events.eventName")}
          <input name="eventName" defaultValue={initial.eventName ?? ""} />
        </label>
        <label>
          {t("events.service")}
          <input name="serviceName" defaultValue={initial.serviceName ?? ""} />
        </label>
        <label>
          {t("events.user")}
          <input name="user" defaultValue={initial.user ?? ""} />
        </label>
        <label>
          {t("events.resource")}
          <input name="resourceName" defaultValue={initial.resourceName ?? ""} />
        </label>
        <button type="submit" className="primary" disabled={busy}>
          {t("events.search")}
        </button>
      </form>
      <ErrorBox error={error} />
      {busy ? <Loading /> : null}
      {result === undefined ? null : result.events.length === 0 ? (
        <p>{t("events.none")}</p>
      ) : (
        <table aria-label={t("events.title")}>
          <thead>
            <tr>
              <th>{t("events.time")}</th>
              <th>{t("events.eventName")}</th>
              <th>{t("events.service")}</th>
              <th>{t("events.user")}</th>
              <th>{t("events.resource")}</th>
              <th>{t("events.source")}</th>
              <th>{t("common.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {result.events.map((e) => (
              <tr key={e.eventId}>
                <td>{e.eventTime}</td>
                <td>{e.eventName}</td>
                <td>{e.serviceName}</td>
                <td>{e.userIdentity?.userName ?? ""}</td>
                <td>{e.resourceName ?? ""}</td>
                <td>{e.sourceIpAddress ?? ""}</td>
                <td>
                  <button onClick={() => setOpen(e)}>{t("events.details")}</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {result === undefined ? null : (
        <div className="buttons">
          <button
            disabled={busy || page <= 1}
            onClick={() => {
              const prev = pages.slice(0, -1);
              setPages(prev);
              void load(filters, prev[prev.length - 1]);
            }}
          >
            {t("common.previous")}
          </button>
          <span>{page}</span>
          <button
            disabled={busy || result.nextToken === undefined}
            onClick={() => {
              setPages([...pages, result.nextToken]);
              void load(filters, result.nextToken);
            }}
          >
            {t("common.next")}
          </button>
        </div>
      )}
      {open === undefined ? null : (
        <Dialog title={t("events.record")} onClose={() => setOpen(undefined)}>
          <pre className="record">{JSON.stringify(open, null, 2)}</pre>
          <div className="buttons">
            <button onClick={() => setOpen(undefined)}>{t("common.close")}</button>
          </div>
        </Dialog>
      )}
    </section>
  );
}
