//! Idempotency records: one per (credential, Idempotency-Key), replayable for 24 hours.

use serde::Deserialize;

use super::{changes, rows, Arg, Db};
use crate::http::error::ApiError;

pub enum Claim {
    /// The key is new: this request runs, and its response is stored.
    New,
    /// The same request ran before: here is its response.
    Replay {
        status: u16,
        body: Option<String>,
        location: Option<String>,
    },
    /// The key was used with a different request.
    Mismatch,
    /// The first request with this key has not finished.
    InFlight,
}

#[derive(Deserialize)]
struct Row {
    fingerprint: String,
    status: Option<u16>,
    body: Option<String>,
    location: Option<String>,
}

/// Expires the key if older than `cutoff` (or if its first request never finished and is older
/// than `stale`), then claims it or reads what holds it: one batch.
#[allow(clippy::too_many_arguments)]
pub async fn claim(
    db: &Db,
    credential: &str,
    key: &str,
    fingerprint: &str,
    now: &str,
    cutoff: &str,
    stale: &str,
) -> Result<Claim, ApiError> {
    let id = [Arg::Text(credential), Arg::Text(key)];
    let results = db
        .batch(
            "d1: claim idempotency key",
            vec![
                db.stmt(
                    "DELETE FROM idempotency_keys WHERE credential_id = ?1 AND idem_key = ?2
                       AND (created_at < ?3 OR (status IS NULL AND created_at < ?4))",
                    &[Arg::Text(credential), Arg::Text(key), Arg::Text(cutoff), Arg::Text(stale)],
                )?,
                db.stmt(
                    "INSERT OR IGNORE INTO idempotency_keys (credential_id, idem_key, fingerprint, created_at) VALUES (?1, ?2, ?3, ?4)",
                    &[Arg::Text(credential), Arg::Text(key), Arg::Text(fingerprint), Arg::Text(now)],
                )?,
                db.stmt("SELECT fingerprint, status, body, location FROM idempotency_keys WHERE credential_id = ?1 AND idem_key = ?2", &id)?,
            ],
        )
        .await?;
    let mut it = results.into_iter().skip(1);
    let (Some(insert), Some(select)) = (it.next(), it.next()) else {
        return Err(ApiError::Internal(
            "d1: claim idempotency key: short batch".into(),
        ));
    };
    if changes(&insert)? == 1 {
        return Ok(Claim::New);
    }
    let Some(row) = rows::<Row>(Ok(select), "d1: read idempotency key")?
        .into_iter()
        .next()
    else {
        return Err(ApiError::IdempotencyKeyInUse);
    };
    Ok(match row.status {
        _ if row.fingerprint != fingerprint => Claim::Mismatch,
        None => Claim::InFlight,
        Some(status) => Claim::Replay {
            status,
            body: row.body,
            location: row.location,
        },
    })
}

pub async fn complete(
    db: &Db,
    credential: &str,
    key: &str,
    status: u16,
    body: Option<&str>,
    location: Option<&str>,
) -> Result<(), ApiError> {
    db.run(
        "d1: store idempotent response",
        "UPDATE idempotency_keys SET status = ?3, body = ?4, location = ?5 WHERE credential_id = ?1 AND idem_key = ?2",
        &[Arg::Text(credential), Arg::Text(key), Arg::Int(status.into()), body.into(), location.into()],
    )
    .await?;
    Ok(())
}

/// Frees the key after a failed request, so a corrected retry can use it.
pub async fn release(db: &Db, credential: &str, key: &str) -> Result<(), ApiError> {
    db.run(
        "d1: release idempotency key",
        "DELETE FROM idempotency_keys WHERE credential_id = ?1 AND idem_key = ?2 AND status IS NULL",
        &[Arg::Text(credential), Arg::Text(key)],
    )
    .await?;
    Ok(())
}

/// Deletes at most `limit` records first used before `cutoff` (oldest first, by the
/// `idempotency_keys_by_age` index); returns how many went.
pub async fn delete_created_before(db: &Db, cutoff: &str, limit: u32) -> Result<usize, ApiError> {
    db.run(
        "d1: purge expired idempotency keys",
        "DELETE FROM idempotency_keys WHERE rowid IN
           (SELECT rowid FROM idempotency_keys WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
        &[Arg::Text(cutoff), Arg::Int(limit.into())],
    )
    .await
}
