// The dashboard: who is signed in, which page the hash names, and the frame around it.
// Pages live at `/#/<page>`, so every page is the one static `index.html` and a reload keeps it.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "./api.js";
import { AuthPage } from "./pages/auth.jsx";
import { WorkspacesPage } from "./pages/workspaces.jsx";
import { TeamPage } from "./pages/team.jsx";
import { DevelopersPage } from "./pages/developers.jsx";
import { PostsPage } from "./pages/posts.jsx";

const PAGES = [
  { path: "workspaces", label: "Workspaces", Page: WorkspacesPage },
  { path: "team", label: "Team", Page: TeamPage },
  { path: "posts", label: "Posts", Page: PostsPage },
  { path: "developers", label: "Developers", Page: DevelopersPage },
];

function currentPage() {
  const path = location.hash.replace(/^#\/?/, "");
  return PAGES.find((p) => p.path === path) ?? PAGES[0];
}

function App() {
  // undefined: asking the API; null: signed out; otherwise the user.
  const [user, setUser] = useState(undefined);
  const [page, setPage] = useState(currentPage);

  useEffect(() => {
    const onHash = () => setPage(currentPage());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  useEffect(() => {
    document.title = user ? `${page.label} · PostBridge` : "PostBridge";
  }, [page, user]);

  useEffect(() => {
    api.get("/me").then(
      (me) => setUser(me.user),
      (e) => setUser(e instanceof ApiError && e.status === 401 ? null : { error: e }),
    );
  }, []);

  if (user === undefined) return <main><p>Loading…</p></main>;
  if (user === null) return <AuthPage onSignedIn={setUser} />;
  if (user.error) {
    return (
      <main>
        <h1>PostBridge</h1>
        <p role="alert">The dashboard could not reach the API: {user.error.message}</p>
      </main>
    );
  }

  const signOut = async () => {
    try {
      await api.post("/dashboard/logout");
    } finally {
      setUser(null);
    }
  };
  // A signed-out API (expired session) sends the person back to sign in.
  const onUnauthorized = (e) => {
    if (e instanceof ApiError && e.status === 401) setUser(null);
  };
  const { Page } = page;

  return (
    <>
      <header class="top">
        <a class="brand" href="#/workspaces">PostBridge</a>
        <nav aria-label="Main">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <a href={`#/${p.path}`} aria-current={p === page ? "page" : undefined}>
                  {p.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>{user.name}</span>
          <button type="button" onClick={signOut}>Sign out</button>
        </div>
      </header>
      <main>
        <Page user={user} onUnauthorized={onUnauthorized} />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app"));
