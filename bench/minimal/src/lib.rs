//! Minimal worker for the benchmark: what a request costs with no tenancy at all.
//!
//! `/const` answers a constant; `/post` runs the product's get-post statement for a fixed post
//! (`POST_ID`, `WORKSPACE_ID`); `/workspaces` (a diagnostic, not in the budget) runs the
//! product's workspace-list statement for a fixed user (`USER_ID`), as a full-access key
//! sends it. Neither reads a credential.

use wasm_bindgen::JsValue;
use worker::{event, Context, Env, Request, Response, Result};

/// The product's post view statement (`src/store/posts.rs`: `SELECT` + `view_stmt`), verbatim.
const VIEW: &str = "SELECT p.id, p.workspace_id AS workspaceId, p.content, p.status, p.scheduled_for AS scheduledFor,
        p.media_ids AS mediaIds, p.created_by AS createdBy, p.created_at AS createdAt, p.updated_at AS updatedAt,
        p.approved_by AS approvedBy, p.approved_at AS approvedAt,
        (SELECT json_group_array(json_object(
            'id', t.id, 'accountId', t.account_id, 'platform', a.platform,
            'captionOverride', t.caption_override, 'firstComment', t.first_comment,
            'mediaIds', json(t.media_ids), 'platformOptions', json(t.platform_options),
            'status', t.status, 'error', t.error, 'publishedAt', t.published_at))
         FROM (SELECT * FROM post_targets WHERE workspace_id = p.workspace_id AND post_id = p.id ORDER BY position) t
         JOIN social_accounts a ON a.id = t.account_id AND a.workspace_id = t.workspace_id) AS targets
     FROM posts p WHERE p.id = ?1 AND p.workspace_id = ?2 AND p.deleted_at IS NULL";

/// The product's workspace list (`src/store/workspaces.rs`: `LIST`), verbatim, first page, as a
/// full-access key runs it (no workspace set: the membership join is the scope).
const WORKSPACES: &str = "SELECT w.id, w.name, w.slug, w.timezone, w.require_approval, w.created_at, w.updated_at,
                    m.role, m.created_at AS joined_at
             FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
             WHERE m.user_id = ?1 AND w.deleted_at IS NULL
               AND (?2 IS NULL OR m.workspace_id IN (SELECT value FROM json_each(?2)))
               AND (m.workspace_created_at, m.workspace_id) > (?3, ?4)
             ORDER BY m.workspace_created_at, m.workspace_id LIMIT ?5";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match req.path().as_str() {
        "/const" => Response::ok("ok"),
        "/post" => {
            // The post to read comes from the deployment (the bench seeds it), not the request.
            let id = env.var("POST_ID")?.to_string();
            let ws = env.var("WORKSPACE_ID")?.to_string();
            let d1 = env.d1("DB")?;
            let stmt = d1
                .prepare(VIEW)
                .bind(&[JsValue::from_str(&id), JsValue::from_str(&ws)])?;
            // One statement in a batch, exactly as the product's get-post sends it.
            let result = d1.batch(vec![stmt]).await?.into_iter().next();
            let row = match result {
                Some(r) => r.results::<serde_json::Value>()?.into_iter().next(),
                None => None,
            };
            match row {
                Some(row) => Response::from_json(&row),
                None => Response::error("not found", 404),
            }
        }
        "/workspaces" => {
            let user = env.var("USER_ID")?.to_string();
            let rows = env
                .d1("DB")?
                .prepare(WORKSPACES)
                .bind(&[
                    JsValue::from_str(&user),
                    JsValue::NULL,
                    JsValue::from_str(""),
                    JsValue::from_str(""),
                    JsValue::from_f64(51.0),
                ])?
                .all()
                .await?
                .results::<serde_json::Value>()?;
            Response::from_json(&rows)
        }
        _ => Response::error("not found", 404),
    }
}
