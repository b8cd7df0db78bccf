// Workspaces: the list, a new one, and renaming or moving one to another time zone.
import { useState } from "preact/hooks";
import { all, api } from "../api.js";
import { Dialog, Problem, When, roleLabel, useLoad, useSubmit } from "../ui.jsx";

const ZONES = ["UTC", ...Intl.supportedValuesOf("timeZone").filter((z) => z !== "UTC")];

function ZoneSelect({ id, value }) {
  const zones = value && !ZONES.includes(value) ? [value, ...ZONES] : ZONES;
  return (
    <select id={id} name="timezone" defaultValue={value ?? "UTC"}>
      {zones.map((z) => (
        <option key={z} value={z} selected={z === (value ?? "UTC")}>
          {z}
        </option>
      ))}
    </select>
  );
}

/** The fields of a workspace, for creating one or editing it. */
function WorkspaceForm({ workspace, submitLabel, onSubmit, onCancel }) {
  const { busy, error, run } = useSubmit();
  const submit = (e) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    run(() => onSubmit({ name: f.get("name"), timezone: f.get("timezone") }));
  };
  return (
    <form onSubmit={submit} class="stack">
      <p class="field">
        <label for="ws-name">Workspace name</label>
        <input id="ws-name" name="name" required maxLength={100} defaultValue={workspace?.name ?? ""} />
      </p>
      <p class="field">
        <label for="ws-zone">Time zone</label>
        <ZoneSelect id="ws-zone" value={workspace?.timezone} />
      </p>
      <Problem error={error} />
      <div class="actions">
        <button type="button" onClick={onCancel}>Cancel</button>
        <button type="submit" class="primary" disabled={busy}>{submitLabel}</button>
      </div>
    </form>
  );
}

export function WorkspacesPage({ onUnauthorized }) {
  const list = useLoad(() => all("/workspaces").catch((e) => (onUnauthorized(e), Promise.reject(e))));
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState(null);

  const create = async (body) => {
    await api.post("/workspaces", body);
    setCreating(false);
    list.reload();
  };
  const update = async (body) => {
    await api.patch(`/workspaces/${editing.id}`, body);
    setEditing(null);
    list.reload();
  };

  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">Workspaces</h1>
        <button type="button" class="primary" onClick={() => setCreating(true)}>New workspace</button>
      </div>
      <p class="lead">Each client brand lives in its own workspace, with its own team, channels and posts.</p>
      {list.error && <Problem error={list.error} />}
      {list.data && list.data.length === 0 && <p>No workspaces yet: create the first one.</p>}
      {list.data && list.data.length > 0 && (
        <table>
          <caption class="visually-hidden">Your workspaces</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Slug</th>
              <th scope="col">Time zone</th>
              <th scope="col">Your role</th>
              <th scope="col">Created</th>
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((w) => (
              <tr key={w.id}>
                <th scope="row" id={`ws-${w.id}`}>{w.name}</th>
                <td><code>{w.slug}</code></td>
                <td>{w.timezone}</td>
                <td>{roleLabel(w.membership.role)}</td>
                <td><When at={w.createdAt} date /></td>
                <td>
                  {["OWNER", "ADMIN"].includes(w.membership.role) && (
                    <button type="button" aria-describedby={`ws-${w.id}`} onClick={() => setEditing(w)}>
                      Edit
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Dialog open={creating} onClose={() => setCreating(false)} title="New workspace">
        <WorkspaceForm submitLabel="Create workspace" onSubmit={create} onCancel={() => setCreating(false)} />
      </Dialog>
      <Dialog open={editing !== null} onClose={() => setEditing(null)} title={`Edit ${editing?.name ?? ""}`}>
        {editing && (
          <WorkspaceForm workspace={editing} submitLabel="Save" onSubmit={update} onCancel={() => setEditing(null)} />
        )}
      </Dialog>
    </section>
  );
}
