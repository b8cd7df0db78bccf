//! The cron safety net (every minute): attempts whose lease expired become UNKNOWN and their
//! targets go back to PENDING, posts left with nothing to publish are settled, and the
//! scheduler hands over whatever is due (including targets whose message was lost) and
//! re-arms. Local cron triggers do not fire by themselves: the DO alarm and the queue carry
//! publishing; tests fire this explicitly.

use worker::Env;

use super::{db, log, scheduler};
use crate::domain::publish::outcome::{ErrorCode, TargetError};
use crate::domain::time::Timestamp;
use crate::http::error::ApiError;
use crate::store::publishing as store;

pub async fn run(env: &Env) {
    if let Err(e) = sweep(env).await {
        log(
            "error",
            "publish.sweep",
            serde_json::json!({ "cause": super::cause(&e) }),
        );
    }
}

async fn sweep(env: &Env) -> Result<(), ApiError> {
    let db = db(env)?;
    let now = Timestamp::from_millis(crate::ctx::now_ms() as i64).to_rfc3339();
    let interrupted = TargetError::new(
        ErrorCode::PublishInterrupted,
        "An attempt stopped before it finished; the target is being published again.",
    );
    let swept = store::sweep(&db, &now, &interrupted).await?;
    if swept > 0 {
        log(
            "info",
            "publish.sweep",
            serde_json::json!({ "leasesExpired": swept }),
        );
    }
    scheduler::tick(env).await
}
