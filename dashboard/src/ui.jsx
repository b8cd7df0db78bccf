// Small accessible building blocks shared by the pages.
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api.js";

/**
 * A modal `<dialog>`: the browser traps focus inside it, closes it on Escape and gives focus
 * back to what opened it. `onClose` runs however it closes.
 */
export function Dialog({ open, onClose, title, children, role }) {
  const ref = useRef(null);
  const titleId = useRef(`dialog-title-${Math.random().toString(36).slice(2)}`).current;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  useEffect(() => {
    const d = ref.current;
    const closed = () => onClose?.();
    d?.addEventListener("close", closed);
    return () => d?.removeEventListener("close", closed);
  }, [onClose]);
  return (
    <dialog ref={ref} aria-labelledby={titleId} role={role}>
      {open && (
        <>
          <h2 id={titleId}>{title}</h2>
          {children}
        </>
      )}
    </dialog>
  );
}

/** A problem to show next to a form, announced to screen readers as it appears. */
export function Problem({ error }) {
  if (!error) return null;
  const text = error instanceof ApiError ? error.explain() : String(error.message ?? error);
  return (
    <p class="problem" role="alert">
      {text}
    </p>
  );
}

/** State of one form submission: `run(fn)` keeps `busy` and `error` up to date. */
export function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async (fn) => {
    setBusy(true);
    setError(null);
    try {
      return await fn();
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}

/** A list loaded from the API, with a way to load it again after a change. */
export function useLoad(load, deps = []) {
  const [state, setState] = useState({ loading: true, data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ loading: false, data, error: null }),
      (error) => live && setState({ loading: false, data: null, error }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

/** A time for people, in a `<time>` element carrying the exact value. */
export function When({ at, empty = "—", date = false }) {
  if (!at) return <span>{empty}</span>;
  const d = new Date(at);
  return <time dateTime={at}>{(date ? dateOnly : dateTime).format(d)}</time>;
}

export const ROLES = ["OWNER", "ADMIN", "EDITOR", "MEMBER", "CLIENT_REVIEWER"];

/** Role names as people read them. */
export function roleLabel(role) {
  return { OWNER: "Owner", ADMIN: "Admin", EDITOR: "Editor", MEMBER: "Member", CLIENT_REVIEWER: "Client reviewer" }[role] ?? role;
}
