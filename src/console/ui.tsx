import { useCallback, useEffect, useRef, useState, type MouseEvent, type ReactNode } from "react";
import { ApiError } from "./api.js";
import { useT } from "./i18n.js";
import { navigate } from "./router.js";

export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={onClick} className={className}>
      {children}
    </a>
  );
}

/** A text field of a submitted form ("" when absent). */
export function field(form: FormData, name: string): string {
  const v = form.get(name);
  return typeof v === "string" ? v : "";
}

/** Loads with `load` on mount and when `deps` change; `reload` runs it again. */
export function useAsync<T>(load: () => Promise<T>, deps: readonly unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const run = useCallback(load, deps);
  const reload = useCallback(() => {
    setState((s) => ({ ...s, loading: true }));
    run().then(
      (data) => setState({ data, loading: false }),
      (error: unknown) => setState({ error, loading: false }),
    );
  }, [run]);
  useEffect(reload, [reload]);
  return { ...state, reload };
}

/** A refusal or failure, shown plainly: the service's code and its message. */
export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  const { t } = useT();
  if (error === undefined) return null;
  const code = error instanceof ApiError ? error.code : "Error";
  const message = error instanceof Error ? error.message : typeof error === "string" ? error : "";
  return (
    <div role="alert" className="error">
      <strong>{title ?? t("common.error")}</strong> <code>{code}</code>
      <div>{message}</div>
    </div>
  );
}

export function Loading() {
  const { t } = useT();
  return <p className="muted">{t("common.loading")}</p>;
}

/** A modal dialog (the native <dialog>), named by its title for assistive technology. */
export function Dialog({
  title,
  children,
  onClose,
}: {
  title: string;
  children: ReactNode;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d !== null && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  const id = `dialog-${title.replace(/\W+/g, "-")}`;
  return (
    <dialog ref={ref} aria-labelledby={id} onCancel={onClose} className="dialog">
      <h2 id={id}>{title}</h2>
      {children}
    </dialog>
  );
}

export function Badge({ tone, children }: { tone: "ok" | "busy" | "bad" | "muted"; children: ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

export function Switch({
  label,
  checked,
  disabled,
  onChange,
}: {
  label: string;
  checked: boolean;
  disabled?: boolean;
  onChange: (next: boolean) => void;
}) {
  return (
    <button
      type="button"
      role="switch"
      aria-checked={checked}
      aria-label={label}
      disabled={disabled}
      className={`switch ${checked ? "on" : "off"}`}
      onClick={() => onChange(!checked)}
    >
      <span className="knob" />
    </button>
  );
}
