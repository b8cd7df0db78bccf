//! `lastUsedAt` of API keys, written at most once a minute per key and isolate, after the
//! response (through `wait_until`), so the hot path never waits on a D1 write. Only a request
//! that was authorised and succeeded counts as a use: a refused one (a foreign workspace, a role
//! too low, a bad body) writes nothing, so a refusal does no storage work at all. The write is
//! announced in `Server-Timing` as `d1-after`, since it runs after the response.

use std::cell::RefCell;
use std::collections::HashMap;

use super::credential::CredentialKind;
use super::principal::Principal;
use crate::ctx::{Ctx, DB};
use crate::domain::time::Timestamp;
use crate::timing::now_ms;

pub const TOUCH_EVERY_MS: f64 = 60_000.0;

thread_local! {
    static LAST_TOUCH: RefCell<HashMap<String, f64>> = RefCell::new(HashMap::new());
}

/// Whether this isolate should write `last_used_at` for `key_id` now; records the write.
fn due(key_id: &str, now: f64) -> bool {
    LAST_TOUCH.with(|m| {
        let mut m = m.borrow_mut();
        match m.get(key_id) {
            Some(&t) if now - t < TOUCH_EVERY_MS => false,
            _ => {
                if m.len() > 10_000 {
                    m.clear();
                }
                m.insert(key_id.to_owned(), now);
                true
            }
        }
    })
}

/// Notes the API key that authenticated the request; nothing is written yet.
pub fn authenticated(ctx: &Ctx, p: &Principal) {
    if p.kind == CredentialKind::ApiKey {
        *ctx.api_key_used.borrow_mut() = Some(p.credential_id.clone());
    }
}

/// The request succeeded: schedules the `lastUsedAt` write of its key, if one is due.
pub fn succeeded(ctx: &Ctx) {
    let Some(key_id) = ctx.api_key_used.borrow_mut().take() else {
        return;
    };
    let now = now_ms();
    if !due(&key_id, now) {
        return;
    }
    let Ok(d1) = ctx.env.d1(DB) else { return };
    ctx.timing.borrow_mut().d1_after += 1;
    let at = Timestamp::from_millis(now as i64).to_rfc3339();
    let minute_ago = Timestamp::from_millis(now as i64 - TOUCH_EVERY_MS as i64).to_rfc3339();
    ctx.wait.wait_until(async move {
        // Conditional, so isolates racing on the same key write at most about once a minute.
        let stmt = d1.prepare(
            "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?3)",
        );
        if let Ok(stmt) = stmt.bind(&[at.into(), key_id.into(), minute_ago.into()]) {
            if let Err(e) = stmt.run().await {
                worker::console_error!("{{\"level\":\"error\",\"cause\":\"d1: touch last_used_at: {e}\"}}");
            }
        }
    });
}
