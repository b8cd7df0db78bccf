// Posts: one list over every workspace, newest first, with each target's result. `url`,
// `error` and `publishedAt` of a target are shown when the API sends them.
import { useState } from "preact/hooks";
import { all, api } from "../api.js";
import { Problem, When, useLoad } from "../ui.jsx";

const STATUS = {
  DRAFT: "Draft",
  NEEDS_APPROVAL: "Needs approval",
  SCHEDULED: "Scheduled",
  PUBLISHING: "Publishing",
  PUBLISHED: "Published",
  PARTIALLY_PUBLISHED: "Partly published",
  FAILED: "Failed",
  CANCELED: "Canceled",
  PENDING: "Pending",
};

const PLATFORM = {
  INSTAGRAM: "Instagram",
  FACEBOOK_PAGE: "Facebook page",
  X: "X",
  LINKEDIN_PERSON: "LinkedIn",
  LINKEDIN_COMPANY: "LinkedIn company",
  TIKTOK_BUSINESS: "TikTok business",
  TIKTOK_PERSONAL: "TikTok",
  YOUTUBE: "YouTube",
  PINTEREST: "Pinterest",
  THREADS: "Threads",
  BLUESKY: "Bluesky",
  MASTODON: "Mastodon",
};

function Status({ value }) {
  return <span class={`badge badge-${String(value).toLowerCase()}`}>{STATUS[value] ?? value}</span>;
}

/** Only http(s) links are made clickable: a result URL comes from a platform, not from us. */
function safeUrl(url) {
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
  } catch {
    return null;
  }
}

function Target({ t, account }) {
  const link = t.url ? safeUrl(t.url) : null;
  return (
    <li>
      <span class="target-who">
        {PLATFORM[t.platform] ?? t.platform}
        {account && <span class="muted"> {account.handle}</span>}
      </span>{" "}
      <Status value={t.status} />
      {link && (
        <>
          {" "}
          <a href={link} rel="noopener noreferrer" target="_blank">View published post</a>
        </>
      )}
      {t.publishedAt && (
        <span class="muted">
          {" "}published <When at={t.publishedAt} />
        </span>
      )}
      {t.error && <p class="target-error">Error: {t.error.message}</p>}
    </li>
  );
}

export function PostsPage({ onUnauthorized }) {
  const [pages, setPages] = useState([]);
  const [more, setMore] = useState({ busy: false, error: null });
  const context = useLoad(async () => {
    try {
      const [first, workspaces, accounts] = await Promise.all([
        api.page("/posts?limit=50"),
        all("/workspaces"),
        all("/social-accounts"),
      ]);
      setPages([first]);
      return {
        workspaces: new Map(workspaces.map((w) => [w.id, w])),
        accounts: new Map(accounts.map((a) => [a.id, a])),
      };
    } catch (e) {
      onUnauthorized(e);
      throw e;
    }
  });
  const posts = pages.flatMap((p) => p.rows);
  const next = pages.at(-1)?.next;

  const loadMore = async () => {
    setMore({ busy: true, error: null });
    try {
      const page = await api.page(`/posts?limit=50&cursor=${encodeURIComponent(next)}`);
      setPages((ps) => [...ps, page]);
      setMore({ busy: false, error: null });
    } catch (error) {
      setMore({ busy: false, error });
    }
  };

  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Posts</h1>
      <p class="lead">Every post of every workspace you reach, newest first.</p>
      <Problem error={context.error} />
      {context.data && posts.length === 0 && <p>No posts yet. Create them through the API.</p>}
      {context.data && posts.length > 0 && (
        <table class="posts">
          <caption class="visually-hidden">Posts</caption>
          <thead>
            <tr>
              <th scope="col">Post</th>
              <th scope="col">Workspace</th>
              <th scope="col">Status</th>
              <th scope="col">Scheduled for</th>
              <th scope="col">Targets</th>
            </tr>
          </thead>
          <tbody>
            {posts.map((p) => (
              <tr key={p.id}>
                <th scope="row" class="post-content">{p.content.length > 140 ? `${p.content.slice(0, 140)}…` : p.content}</th>
                <td>{context.data.workspaces.get(p.workspaceId)?.name ?? "—"}</td>
                <td><Status value={p.status} /></td>
                <td><When at={p.scheduledFor} empty="Not scheduled" /></td>
                <td>
                  <ul class="targets">
                    {p.targets.map((t) => (
                      <Target key={t.id} t={t} account={context.data.accounts.get(t.accountId)} />
                    ))}
                  </ul>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Problem error={more.error} />
      {next && (
        <p>
          <button type="button" onClick={loadMore} disabled={more.busy}>Load more posts</button>
        </p>
      )}
    </section>
  );
}
