//! The route table: every endpoint, once. `resolve` matches a method and path against it;
//! the OpenAPI contract test reads the same table, so a route cannot be added to one and not
//! the other.

use super::error::ApiError;

pub const BASE: &str = "/api/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    OpenApi,
    Signup,
    Login,
    Logout,
    Me,
    ListApiKeys,
    CreateApiKey,
    RevokeApiKey,
    CreateWorkspaceApiKey,
    RevokeWorkspaceApiKey,
    ListWorkspaces,
    CreateWorkspace,
    GetWorkspace,
    UpdateWorkspace,
    DeleteWorkspace,
    ListMembers,
    AddMember,
    UpdateMember,
    RemoveMember,
    ListSocialAccounts,
    CreateSocialAccount,
    GetSocialAccount,
    UpdateSocialAccount,
    DisconnectSocialAccount,
    ListPosts,
    CreatePost,
    GetPost,
    UpdatePost,
    DeletePost,
    SchedulePost,
    ReschedulePost,
    CancelPost,
    RetryPost,
    ListPostAttempts,
    ApprovePost,
    RequestChanges,
    ListComments,
    CommentOnPost,
    ReplyToComment,
    MarkCommentRead,
    PresignMedia,
    IngestMedia,
    ListFolders,
    CreateFolder,
    RenameFolder,
    DeleteFolder,
    ListMedia,
    GetMedia,
    UpdateMedia,
    DeleteMedia,
    CompleteMedia,
    MoveMedia,
    UploadMedia,
    DownloadMedia,
    DashboardSignup,
    DashboardLogin,
    DashboardLogout,
    ListWebhooks,
    CreateWebhook,
    GetWebhook,
    UpdateWebhook,
    DeleteWebhook,
    RotateWebhookSecret,
    TestWebhook,
    ListWebhookDeliveries,
    RedeliverWebhookDelivery,
}

/// (method, path under `/api/v1`, route). `{…}` segments are parameters, passed to handlers
/// in order.
pub const ROUTES: &[(&str, &str, Route)] = &[
    ("GET", "/health", Route::Health),
    ("GET", "/openapi.json", Route::OpenApi),
    ("POST", "/auth/signup", Route::Signup),
    ("POST", "/auth/login", Route::Login),
    ("POST", "/auth/logout", Route::Logout),
    ("GET", "/me", Route::Me),
    ("GET", "/api-keys", Route::ListApiKeys),
    ("POST", "/api-keys", Route::CreateApiKey),
    ("DELETE", "/api-keys/{keyId}", Route::RevokeApiKey),
    ("GET", "/workspaces", Route::ListWorkspaces),
    ("POST", "/workspaces", Route::CreateWorkspace),
    ("GET", "/workspaces/{workspaceId}", Route::GetWorkspace),
    ("PATCH", "/workspaces/{workspaceId}", Route::UpdateWorkspace),
    (
        "DELETE",
        "/workspaces/{workspaceId}",
        Route::DeleteWorkspace,
    ),
    (
        "POST",
        "/workspaces/{workspaceId}/api-keys",
        Route::CreateWorkspaceApiKey,
    ),
    (
        "DELETE",
        "/workspaces/{workspaceId}/api-keys/{keyId}",
        Route::RevokeWorkspaceApiKey,
    ),
    (
        "GET",
        "/workspaces/{workspaceId}/members",
        Route::ListMembers,
    ),
    (
        "POST",
        "/workspaces/{workspaceId}/members",
        Route::AddMember,
    ),
    (
        "PATCH",
        "/workspaces/{workspaceId}/members/{userId}",
        Route::UpdateMember,
    ),
    (
        "DELETE",
        "/workspaces/{workspaceId}/members/{userId}",
        Route::RemoveMember,
    ),
    ("GET", "/social-accounts", Route::ListSocialAccounts),
    ("POST", "/social-accounts", Route::CreateSocialAccount),
    (
        "GET",
        "/social-accounts/{accountId}",
        Route::GetSocialAccount,
    ),
    (
        "PATCH",
        "/social-accounts/{accountId}",
        Route::UpdateSocialAccount,
    ),
    (
        "DELETE",
        "/social-accounts/{accountId}",
        Route::DisconnectSocialAccount,
    ),
    ("GET", "/posts", Route::ListPosts),
    ("POST", "/posts", Route::CreatePost),
    ("GET", "/posts/{postId}", Route::GetPost),
    ("PATCH", "/posts/{postId}", Route::UpdatePost),
    ("DELETE", "/posts/{postId}", Route::DeletePost),
    ("POST", "/posts/{postId}/schedule", Route::SchedulePost),
    ("POST", "/posts/{postId}/reschedule", Route::ReschedulePost),
    ("POST", "/posts/{postId}/cancel", Route::CancelPost),
    ("POST", "/posts/{postId}/retry", Route::RetryPost),
    ("GET", "/posts/{postId}/attempts", Route::ListPostAttempts),
    ("POST", "/posts/{postId}/approve", Route::ApprovePost),
    (
        "POST",
        "/posts/{postId}/request-changes",
        Route::RequestChanges,
    ),
    ("POST", "/posts/{postId}/comments", Route::CommentOnPost),
    ("GET", "/comments", Route::ListComments),
    ("POST", "/comments/{commentId}/reply", Route::ReplyToComment),
    ("POST", "/comments/{commentId}/read", Route::MarkCommentRead),
    ("POST", "/media/presign", Route::PresignMedia),
    ("POST", "/media/from-url", Route::IngestMedia),
    // `/media/folders` is not a media id: literal segments win in `resolve`.
    ("GET", "/media/folders", Route::ListFolders),
    ("POST", "/media/folders", Route::CreateFolder),
    ("PATCH", "/media/folders/{folderId}", Route::RenameFolder),
    ("DELETE", "/media/folders/{folderId}", Route::DeleteFolder),
    ("GET", "/media", Route::ListMedia),
    ("GET", "/media/{mediaId}", Route::GetMedia),
    ("PATCH", "/media/{mediaId}", Route::UpdateMedia),
    ("DELETE", "/media/{mediaId}", Route::DeleteMedia),
    ("POST", "/media/{mediaId}/complete", Route::CompleteMedia),
    ("POST", "/media/{mediaId}/move", Route::MoveMedia),
    // Authorised by the capability token in the URL, not a bearer credential.
    ("PUT", "/media/{mediaId}/upload", Route::UploadMedia),
    ("GET", "/media/{mediaId}/download", Route::DownloadMedia),
    // The dashboard's sessions, carried in a cookie rather than handed to script.
    ("POST", "/dashboard/signup", Route::DashboardSignup),
    ("POST", "/dashboard/login", Route::DashboardLogin),
    ("POST", "/dashboard/logout", Route::DashboardLogout),
    ("GET", "/webhooks", Route::ListWebhooks),
    ("POST", "/webhooks", Route::CreateWebhook),
    ("GET", "/webhooks/{webhookId}", Route::GetWebhook),
    ("PATCH", "/webhooks/{webhookId}", Route::UpdateWebhook),
    ("DELETE", "/webhooks/{webhookId}", Route::DeleteWebhook),
    (
        "POST",
        "/webhooks/{webhookId}/rotate-secret",
        Route::RotateWebhookSecret,
    ),
    ("POST", "/webhooks/{webhookId}/test", Route::TestWebhook),
    (
        "GET",
        "/webhooks/{webhookId}/deliveries",
        Route::ListWebhookDeliveries,
    ),
    (
        "POST",
        "/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver",
        Route::RedeliverWebhookDelivery,
    ),
];

/// A matched route with its path parameters and its template (for the log line).
#[derive(Debug, PartialEq, Eq)]
pub struct Matched {
    pub route: Route,
    pub template: &'static str,
    pub params: Vec<String>,
}

/// The most segments a route has under `/api/v1` (a longer path matches nothing).
const MAX_SEGMENTS: usize = 6;

/// A path split at `/` once, on the stack: every request is matched against the whole table,
/// and splitting each template and the path again for every candidate cost 20-30 µs a request.
struct Segments<'a> {
    n: usize,
    seg: [&'a str; MAX_SEGMENTS],
}

impl<'a> Segments<'a> {
    /// `None` for a path with more segments than any route.
    fn of(path: &'a str) -> Option<Self> {
        let mut out = Segments {
            n: 0,
            seg: [""; MAX_SEGMENTS],
        };
        for s in path.split('/') {
            *out.seg.get_mut(out.n)? = s;
            out.n += 1;
        }
        Some(out)
    }

    fn as_slice(&self) -> &[&'a str] {
        &self.seg[..self.n]
    }
}

/// Whether the path's segments fit `template`'s (`{…}` takes any non-empty segment).
fn matches(template: &Segments<'_>, path: &Segments<'_>) -> bool {
    template.n == path.n
        && template
            .as_slice()
            .iter()
            .zip(path.as_slice())
            .all(|(t, p)| {
                if t.starts_with('{') {
                    !p.is_empty()
                } else {
                    t == p
                }
            })
}

thread_local! {
    /// The table's templates, split once per isolate (in `ROUTES` order).
    static TEMPLATES: Vec<Segments<'static>> = ROUTES
        .iter()
        .map(|(_, t, _)| Segments::of(t).expect("a route has at most MAX_SEGMENTS segments"))
        .collect();
}

/// The path segments a matching `template` takes as parameters, in order.
fn params(template: &str, path: &str) -> Vec<String> {
    template
        .split('/')
        .zip(path.split('/'))
        .filter(|(t, _)| t.starts_with('{'))
        .map(|(_, p)| p.to_owned())
        .collect()
}

/// How literal a template is, segment by segment: a literal segment beats a `{param}` at the
/// first place they differ, so `/media/folders` wins over `/media/{mediaId}` whatever the order
/// of the table. (Compares as the segments' "is literal" flags would, lexicographically.)
fn specificity(a: &str, b: &str) -> std::cmp::Ordering {
    let literal = |seg: &str| !seg.starts_with('{');
    a.split('/').map(literal).cmp(b.split('/').map(literal))
}

/// The path's route: the most literal template that matches it; then the method picks the
/// route (405 listing that template's methods if none). Unknown path → 404. Paths are exact:
/// a trailing slash is another path.
pub fn resolve(method: &str, path: &str) -> Result<Matched, ApiError> {
    let rest = path.strip_prefix(BASE).ok_or(ApiError::NotFound)?;
    let segments = Segments::of(rest).ok_or(ApiError::NotFound)?;
    // The last of equally literal matches, as `Iterator::max_by` picks (the table holds no two
    // templates that are equally literal and match the same path).
    let best = TEMPLATES.with(|templates| {
        let mut best: Option<&'static str> = None;
        for ((_, template, _), split) in ROUTES.iter().zip(templates) {
            if matches(split, &segments) && best.is_none_or(|b| specificity(template, b).is_ge()) {
                best = Some(template);
            }
        }
        best
    });
    let Some(template) = best else {
        return Err(ApiError::NotFound);
    };
    let same_path = ROUTES.iter().filter(|(_, t, _)| *t == template);
    match same_path.clone().find(|(m, _, _)| *m == method) {
        Some((_, _, route)) => Ok(Matched {
            route: *route,
            template,
            params: params(template, rest),
        }),
        None => Err(ApiError::MethodNotAllowed {
            allow: same_path.map(|(m, _, _)| *m).collect::<Vec<_>>().join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_resolves_to_itself() {
        for (method, template, route) in ROUTES {
            let path = format!(
                "{BASE}{}",
                template
                    .replace("{workspaceId}", "ws_x")
                    .replace("{keyId}", "key_y")
                    .replace("{userId}", "usr_z")
                    .replace("{postId}", "post_p")
                    .replace("{accountId}", "soc_a")
                    .replace("{commentId}", "cmt_c")
                    .replace("{folderId}", "fld_f")
                    .replace("{mediaId}", "med_m")
                    .replace("{webhookId}", "wh_w")
                    .replace("{deliveryId}", "msg_d")
            );
            let m = resolve(method, &path).unwrap();
            assert_eq!(m.route, *route, "{method} {template}");
            assert_eq!(m.template, *template);
        }
    }

    #[test]
    fn params_come_in_path_order() {
        let m = resolve("PATCH", "/api/v1/workspaces/ws_a/members/usr_b").unwrap();
        assert_eq!(m.params, vec!["ws_a", "usr_b"]);
    }

    #[test]
    fn paths_are_exact() {
        assert_eq!(
            resolve("GET", "/api/v1/workspaces/").unwrap_err().code(),
            "NOT_FOUND"
        );
        assert_eq!(
            resolve("GET", "/api/v1/health/").unwrap_err().code(),
            "NOT_FOUND"
        );
    }

    #[test]
    fn literal_segments_beat_parameters_whatever_the_order() {
        let allow = |m: &str, p: &str| match resolve(m, p) {
            Err(ApiError::MethodNotAllowed { allow }) => allow,
            other => panic!("{m} {p}: {other:?}"),
        };
        assert_eq!(
            resolve("GET", "/api/v1/media/folders").unwrap().route,
            Route::ListFolders
        );
        assert_eq!(allow("PATCH", "/api/v1/media/folders"), "GET, POST");
        assert_eq!(allow("GET", "/api/v1/media/presign"), "POST");
        assert_eq!(allow("DELETE", "/api/v1/media/from-url"), "POST");
        assert_eq!(
            allow("POST", "/api/v1/media/folders/complete"),
            "PATCH, DELETE"
        );
        assert_eq!(
            allow("GET", "/api/v1/media/folders/download"),
            "PATCH, DELETE"
        );
        assert_eq!(
            resolve("GET", "/api/v1/media/med_x").unwrap().route,
            Route::GetMedia
        );
        assert_eq!(
            resolve("POST", "/api/v1/media/med_x/complete")
                .unwrap()
                .route,
            Route::CompleteMedia
        );
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(resolve("GET", "/nope").unwrap_err().code(), "NOT_FOUND");
        assert_eq!(
            resolve("GET", "/api/v1/nope").unwrap_err().code(),
            "NOT_FOUND"
        );
        assert_eq!(
            resolve("GET", "/api/v1/workspaces//members")
                .unwrap_err()
                .code(),
            "NOT_FOUND"
        );
        match resolve("PUT", "/api/v1/workspaces/ws_a").unwrap_err() {
            ApiError::MethodNotAllowed { allow } => assert_eq!(allow, "GET, PATCH, DELETE"),
            e => panic!("{e:?}"),
        }
    }

    /// The table walked the plain way (every match's parameters copied, specificity as vectors),
    /// as `resolve` was written before it stopped allocating per candidate.
    fn reference(method: &str, path: &str) -> Result<(Route, &'static str, Vec<String>), String> {
        let rest = path.strip_prefix(BASE).ok_or("NOT_FOUND")?;
        let plain_match = |template: &str| -> Option<Vec<String>> {
            let (t, p): (Vec<_>, Vec<_>) =
                (template.split('/').collect(), rest.split('/').collect());
            if t.len() != p.len() {
                return None;
            }
            let mut out = Vec::new();
            for (ts, ps) in t.iter().zip(&p) {
                if ts.starts_with('{') && !ps.is_empty() {
                    out.push((*ps).to_owned());
                } else if ts != ps {
                    return None;
                }
            }
            Some(out)
        };
        let flags = |t: &str| {
            t.split('/')
                .map(|s| !s.starts_with('{'))
                .collect::<Vec<_>>()
        };
        let (template, params) = ROUTES
            .iter()
            .filter_map(|(_, t, _)| plain_match(t).map(|p| (*t, p)))
            .max_by(|(a, _), (b, _)| flags(a).cmp(&flags(b)))
            .ok_or("NOT_FOUND")?;
        let same: Vec<_> = ROUTES.iter().filter(|(_, t, _)| *t == template).collect();
        match same.iter().find(|(m, _, _)| *m == method) {
            Some((_, _, r)) => Ok((*r, template, params)),
            None => Err(same
                .iter()
                .map(|(m, _, _)| *m)
                .collect::<Vec<_>>()
                .join(", ")),
        }
    }

    #[test]
    fn resolves_every_near_miss_as_the_plain_walk_does() {
        let mut paths = vec![
            "/api/v1/posts/a/b/c/d/e/f/g".to_owned(),
            "/api/v1/workspaces/ws_a/members/usr_b/x/y".to_owned(),
            "/api/v1".to_owned(),
            "/api/v1/".to_owned(),
            "/api".to_owned(),
            "".to_owned(),
        ];
        for (_, template, _) in ROUTES {
            let segs: Vec<&str> = template.split('/').collect();
            for fill in ["x_1", "", "folders", "members", "api-keys"] {
                let path: Vec<&str> = segs
                    .iter()
                    .map(|s| if s.starts_with('{') { fill } else { s })
                    .collect();
                let path = path.join("/");
                paths.push(format!("{BASE}{path}"));
                paths.push(format!("{BASE}{path}/"));
                paths.push(format!("{BASE}{path}/extra"));
                paths.push(format!("{BASE}{path}//"));
                if let Some((head, _)) = path.rsplit_once('/') {
                    paths.push(format!("{BASE}{head}"));
                }
            }
        }
        for path in &paths {
            for method in ["GET", "POST", "PATCH", "DELETE", "PUT", "BREW"] {
                let ours = match resolve(method, path) {
                    Ok(m) => Ok((m.route, m.template, m.params)),
                    Err(ApiError::MethodNotAllowed { allow }) => Err(allow),
                    Err(e) => Err(e.code().to_owned()),
                };
                assert_eq!(ours, reference(method, path), "{method} {path}");
            }
        }
    }

    #[test]
    fn every_template_fits_the_segment_buffer() {
        for (_, template, _) in ROUTES {
            assert!(Segments::of(template).is_some(), "{template}");
        }
    }

    #[test]
    fn no_two_routes_share_method_and_template() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(!(a.0 == b.0 && a.1 == b.1), "{} {}", a.0, a.1);
            }
        }
    }
}
