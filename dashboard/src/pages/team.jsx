// Team: the members of one workspace; adding one by e-mail, changing a role, removing one.
// The controls follow the role table (OWNER and ADMIN manage members; only an OWNER grants,
// changes or removes OWNER); the API enforces the same rules whatever this page shows.
import { useState } from "preact/hooks";
import { all, api } from "../api.js";
import { Dialog, Problem, ROLES, When, roleLabel, useLoad, useSubmit } from "../ui.jsx";

function mayManage(myRole) {
  return myRole === "OWNER" || myRole === "ADMIN";
}

/** May someone with `myRole` change or remove a member who has `theirRole`? */
function mayTouch(myRole, theirRole) {
  return mayManage(myRole) && (theirRole !== "OWNER" || myRole === "OWNER");
}

function grantable(myRole) {
  return ROLES.filter((r) => r !== "OWNER" || myRole === "OWNER");
}

function Members({ workspace, user, onUnauthorized, onLeft }) {
  const myRole = workspace.membership.role;
  const members = useLoad(
    () => all(`/workspaces/${workspace.id}/members`).catch((e) => (onUnauthorized(e), Promise.reject(e))),
    [workspace.id],
  );
  const adding = useSubmit();
  const changing = useSubmit();
  const removing = useSubmit();
  const [removal, setRemoval] = useState(null);
  const [notice, setNotice] = useState("");

  const add = (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    adding.run(async () => {
      const m = await api.post(`/workspaces/${workspace.id}/members`, { email: f.get("email"), role: f.get("role") });
      // Not form.reset(): it would put the role back on the first option (Owner).
      form.elements.email.value = "";
      form.elements.role.value = "MEMBER";
      setNotice(`${m.name} was added as ${roleLabel(m.role)}.`);
      members.reload();
    });
  };
  const changeRole = (m, role) =>
    changing.run(async () => {
      await api.patch(`/workspaces/${workspace.id}/members/${m.userId}`, { role });
      setNotice(`${m.name} is now ${roleLabel(role)}.`);
      members.reload();
    });
  const remove = () =>
    removing.run(async () => {
      await api.del(`/workspaces/${workspace.id}/members/${removal.userId}`);
      // Having left, this workspace is no longer ours to show.
      if (removal.userId === user.id) return onLeft();
      setNotice(`${removal.name} was removed from ${workspace.name}.`);
      setRemoval(null);
      members.reload();
    });

  return (
    <>
      <p class="status" role="status">{notice}</p>
      <Problem error={members.error ?? changing.error} />
      {members.data && (
        <table>
          <caption class="visually-hidden">Members of {workspace.name}</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Joined</th>
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {members.data.map((m) => {
              const self = m.userId === user.id;
              const touch = !self && mayTouch(myRole, m.role);
              return (
                <tr key={m.userId}>
                  <th scope="row" id={`member-${m.userId}`}>{m.name}{self && " (you)"}</th>
                  <td>{m.email}</td>
                  <td>
                    {touch ? (
                      <select
                        aria-label={`Role of ${m.name}`}
                        value={m.role}
                        disabled={changing.busy}
                        onChange={(e) => changeRole(m, e.currentTarget.value)}
                      >
                        {grantable(myRole).map((r) => (
                          <option key={r} value={r}>{roleLabel(r)}</option>
                        ))}
                      </select>
                    ) : (
                      roleLabel(m.role)
                    )}
                  </td>
                  <td><When at={m.joinedAt} date /></td>
                  <td>
                    {(touch || self) && (
                      <button type="button" aria-describedby={`member-${m.userId}`} onClick={() => setRemoval(m)}>
                        {self ? "Leave" : "Remove"}
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {mayManage(myRole) ? (
        <form onSubmit={add} class="card stack">
          <h2>Add a member</h2>
          <p class="hint">They need a PostBridge account first.</p>
          <div class="row">
            <p class="field grow">
              <label for="member-email">Email</label>
              <input id="member-email" name="email" type="email" required />
            </p>
            <p class="field">
              <label for="member-role">Role</label>
              <select id="member-role" name="role" defaultValue="MEMBER">
                {grantable(myRole).map((r) => (
                  <option key={r} value={r} selected={r === "MEMBER"}>{roleLabel(r)}</option>
                ))}
              </select>
            </p>
          </div>
          <Problem error={adding.error} />
          <div class="actions">
            <button type="submit" class="primary" disabled={adding.busy}>Add member</button>
          </div>
        </form>
      ) : (
        <p class="hint">Only owners and admins can add or remove members.</p>
      )}
      <Dialog
        open={removal !== null}
        onClose={() => setRemoval(null)}
        title={removal?.userId === user.id ? `Leave ${workspace.name}?` : `Remove ${removal?.name ?? ""}?`}
        role="alertdialog"
      >
        <p>
          {removal?.userId === user.id
            ? "You lose access to this workspace, and your API keys stop reaching it."
            : "They lose access to this workspace at once, and so do their API keys."}
        </p>
        <Problem error={removing.error} />
        <div class="actions">
          <button type="button" onClick={() => setRemoval(null)}>Cancel</button>
          <button type="button" class="danger" disabled={removing.busy} onClick={remove}>
            {removal?.userId === user.id ? "Leave workspace" : "Remove member"}
          </button>
        </div>
      </Dialog>
    </>
  );
}

export function TeamPage({ user, onUnauthorized }) {
  const workspaces = useLoad(() => all("/workspaces").catch((e) => (onUnauthorized(e), Promise.reject(e))));
  const [chosen, setChosen] = useState(null);
  const list = workspaces.data ?? [];
  const workspace = list.find((w) => w.id === chosen) ?? list[0];

  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Team</h1>
      <Problem error={workspaces.error} />
      {workspaces.data && list.length === 0 && <p>Create a workspace first; its team is managed here.</p>}
      {workspace && (
        <>
          <p class="field inline">
            <label for="team-ws">Workspace</label>
            <select id="team-ws" value={workspace.id} onChange={(e) => setChosen(e.currentTarget.value)}>
              {list.map((w) => (
                <option key={w.id} value={w.id}>{w.name}</option>
              ))}
            </select>
          </p>
          <Members
            key={workspace.id}
            workspace={workspace}
            user={user}
            onUnauthorized={onUnauthorized}
            onLeft={() => {
              setChosen(null);
              workspaces.reload();
            }}
          />
        </>
      )}
    </section>
  );
}
