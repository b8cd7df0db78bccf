// Developers: the caller's API keys, the create-key sheet and revocation. A new key's
// plaintext lives only in this page's memory while its dialog is open: "Done" drops it, and
// nothing can show it again (the API keeps only its hash).
import { useState } from "preact/hooks";
import { all, api } from "../api.js";
import { Dialog, Problem, When, useLoad, useSubmit } from "../ui.jsx";

/** The create-key sheet: a name, "Full access" on by default, else the workspaces to reach. */
function CreateKeySheet({ workspaces, onCreated, onCancel }) {
  const [full, setFull] = useState(true);
  const { busy, error, setError, run } = useSubmit();

  const submit = (e) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const chosen = f.getAll("workspace");
    if (!full && chosen.length === 0) {
      setError(new Error("Choose at least one workspace, or switch on Full access."));
      return;
    }
    const expiry = f.get("expires");
    const body = { name: f.get("name"), access: full ? "full" : "scoped" };
    if (!full) body.workspaceIds = chosen;
    // The end of the chosen day, in the person's own time zone.
    if (expiry) body.expiresAt = new Date(`${expiry}T23:59:59`).toISOString();
    run(async () => onCreated(await api.post("/api-keys", body)));
  };

  return (
    <form onSubmit={submit} class="stack">
      <p class="field">
        <label for="key-name">Key name</label>
        <input id="key-name" name="name" required maxLength={100} placeholder="e.g. scheduler-bot" />
      </p>
      <div class="switch-field">
        <input
          id="key-full"
          type="checkbox"
          role="switch"
          checked={full}
          aria-describedby="key-full-hint"
          onChange={(e) => setFull(e.currentTarget.checked)}
        />
        <label for="key-full">Full access</label>
        <p id="key-full-hint" class="hint">
          {full
            ? "Every workspace you belong to, now and later."
            : "Only the workspaces chosen below, while you belong to them."}
        </p>
      </div>
      {!full && (
        <fieldset>
          <legend>Workspaces</legend>
          {workspaces.length === 0 && <p>You have no workspaces yet.</p>}
          {workspaces.map((w) => (
            <p class="check" key={w.id}>
              <input type="checkbox" id={`key-ws-${w.id}`} name="workspace" value={w.id} />
              <label for={`key-ws-${w.id}`}>{w.name}</label>
            </p>
          ))}
        </fieldset>
      )}
      <p class="field">
        <label for="key-expires">Expires on (optional)</label>
        {/* The API takes an expiry at most five years (1826 days) ahead; a day's margin for the
            end-of-day time and time zones. */}
        <input id="key-expires" name="expires" type="date" min={new Date().toISOString().slice(0, 10)}
          max={new Date(Date.now() + 1825 * 864e5).toISOString().slice(0, 10)} />
      </p>
      <Problem error={error} />
      <div class="actions">
        <button type="button" onClick={onCancel}>Cancel</button>
        <button type="submit" class="primary" disabled={busy}>Create</button>
      </div>
    </form>
  );
}

/** The one time a key's plaintext is shown. */
function NewKey({ created, onDone }) {
  const [copied, setCopied] = useState("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied("Copied to the clipboard.");
    } catch {
      document.getElementById("new-key").select();
      setCopied("Select the key and copy it yourself: the clipboard is not available here.");
    }
  };
  return (
    <div class="stack">
      <p>
        Copy <strong>{created.name}</strong> now. It is shown only once: not after you close this,
        not after a reload.
      </p>
      <p class="field">
        <label for="new-key">API key</label>
        <span class="row">
          <input id="new-key" class="secret grow" readOnly value={created.key} onFocus={(e) => e.currentTarget.select()} />
          <button type="button" onClick={copy}>Copy</button>
        </span>
      </p>
      <p class="status" role="status">{copied}</p>
      <div class="actions">
        <button type="button" class="primary" onClick={onDone}>Done</button>
      </div>
    </div>
  );
}

export function DevelopersPage({ onUnauthorized }) {
  const load = () =>
    Promise.all([all("/api-keys"), all("/workspaces")]).catch((e) => (onUnauthorized(e), Promise.reject(e)));
  const data = useLoad(load);
  const [sheet, setSheet] = useState(false);
  const [created, setCreated] = useState(null);
  const [revoking, setRevoking] = useState(null);
  const revoke = useSubmit();
  const [keys, workspaces] = data.data ?? [null, []];
  const names = new Map(workspaces.map((w) => [w.id, w.name]));

  const onCreated = (key) => {
    setSheet(false);
    setCreated(key);
    data.reload();
  };
  const confirmRevoke = () =>
    revoke.run(async () => {
      await api.del(`/api-keys/${revoking.id}`);
      setRevoking(null);
      data.reload();
    });

  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">Developers</h1>
        <button type="button" class="primary" onClick={() => setSheet(true)}>Create key</button>
      </div>
      <p class="lead">
        API keys call the PostBridge API as you, with your role in each workspace they reach. Send one as{" "}
        <code>Authorization: Bearer pb_live_…</code>.
      </p>
      <Problem error={data.error} />
      {keys && keys.length === 0 && <p>No API keys yet.</p>}
      {keys && keys.length > 0 && (
        <table>
          <caption class="visually-hidden">Your API keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Key</th>
              <th scope="col">Access</th>
              <th scope="col">Workspaces</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Expires</th>
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id}>
                <th scope="row" id={`key-${k.id}`}>{k.name}</th>
                <td><code>pb_live_{k.prefix}…</code></td>
                <td>{k.access === "full" ? "Full access" : "Scoped"}</td>
                <td>
                  {k.access === "full"
                    ? "All"
                    : k.workspaceIds.map((id) => names.get(id) ?? "a workspace you left").join(", ")}
                </td>
                <td><When at={k.createdAt} /></td>
                <td><When at={k.lastUsedAt} empty="Never" /></td>
                <td><When at={k.expiresAt} empty="Never" /></td>
                <td>
                  <button type="button" class="danger" aria-describedby={`key-${k.id}`} onClick={() => setRevoking(k)}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Dialog open={sheet} onClose={() => setSheet(false)} title="Create an API key">
        <CreateKeySheet workspaces={workspaces} onCreated={onCreated} onCancel={() => setSheet(false)} />
      </Dialog>
      <Dialog open={created !== null} onClose={() => setCreated(null)} title="Your new API key">
        {created && <NewKey created={created} onDone={() => setCreated(null)} />}
      </Dialog>
      <Dialog open={revoking !== null} onClose={() => setRevoking(null)} title={`Revoke ${revoking?.name ?? ""}?`} role="alertdialog">
        <p>Requests with this key are refused from now on. This cannot be undone.</p>
        <Problem error={revoke.error} />
        <div class="actions">
          <button type="button" onClick={() => setRevoking(null)}>Cancel</button>
          <button type="button" class="danger" disabled={revoke.busy} onClick={confirmRevoke}>Revoke key</button>
        </div>
      </Dialog>
    </section>
  );
}
