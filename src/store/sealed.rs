//! The sealed columns, for the re-seal sweep (src/reseal_sweep.rs): the values a key other than
//! the current one sealed, found and counted by migration 0011's generated `*_sealed_by`
//! columns and their indexes, and replaced only if nobody wrote them since they were read.
//!
//! A system job across workspaces, like the cleanup sweeps: no principal, so no `Authorized`
//! proof; every statement still names the row by its workspace and id.

use serde::Deserialize;

use super::{Arg, Db};
use crate::http::error::ApiError;

/// How a column's additional data is made from its row's id (src/seal.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aad {
    /// The row's id: credentials, webhook secrets.
    RowId,
    /// `<account id>:session`: the publisher's platform sessions.
    Session,
}

impl Aad {
    pub fn for_row(self, id: &str) -> String {
        match self {
            Aad::RowId => id.to_owned(),
            Aad::Session => crate::publish::consumer::session_aad(id),
        }
    }
}

/// A column that holds sealed values.
#[derive(Clone, Copy, Debug)]
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
    /// Its generated column (migration 0011): the key id, `''` for `v1`, NULL for no value.
    pub sealed_by: &'static str,
    pub aad: Aad,
}

/// Every sealed column there is. A new one needs its generated column and index (a migration)
/// and a line here.
pub const SEALED_COLUMNS: [SealedColumn; 4] = [
    SealedColumn {
        table: "social_accounts",
        column: "credentials",
        sealed_by: "credentials_sealed_by",
        aad: Aad::RowId,
    },
    SealedColumn {
        table: "social_accounts",
        column: "platform_session",
        sealed_by: "session_sealed_by",
        aad: Aad::Session,
    },
    SealedColumn {
        table: "webhook_endpoints",
        column: "secret",
        sealed_by: "secret_sealed_by",
        aad: Aad::RowId,
    },
    SealedColumn {
        table: "webhook_endpoints",
        column: "previous_secret",
        sealed_by: "previous_secret_sealed_by",
        aad: Aad::RowId,
    },
];

/// A sealed value as read.
#[derive(Debug, Deserialize)]
pub struct SealedRow {
    pub id: String,
    pub workspace_id: String,
    pub sealed: String,
}

/// Up to `limit` values of `col` whose key shows as `sealed_by` (a key id, or `''` for `v1`),
/// in id order after `after`: one index range (`(sealed_by, id)`).
pub async fn sealed_by(
    db: &Db,
    col: &SealedColumn,
    sealed_by: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<SealedRow>, ApiError> {
    let sql = format!(
        "SELECT id, workspace_id, {c} AS sealed FROM {t} WHERE {by} = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        c = col.column,
        t = col.table,
        by = col.sealed_by,
    );
    db.all(
        "d1: sealed values to re-seal",
        &sql,
        &[Arg::Text(sealed_by), Arg::Text(after), Arg::Int(limit)],
    )
    .await
}

/// Writes each re-sealed value only where the column still holds exactly what was read (a
/// fresh nonce makes every sealing distinct, so a concurrent write — new credentials, a
/// refreshed session, a rotated secret — always differs and wins). One batch; returns how many
/// were written.
pub async fn replace_if_unchanged(
    db: &Db,
    col: &SealedColumn,
    rows: &[(&SealedRow, String)],
) -> Result<usize, ApiError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "UPDATE {t} SET {c} = ?3 WHERE id = ?1 AND workspace_id = ?2 AND {c} = ?4",
        c = col.column,
        t = col.table,
    );
    let stmts = rows
        .iter()
        .map(|(row, resealed)| {
            db.stmt(
                &sql,
                &[
                    Arg::Text(&row.id),
                    Arg::Text(&row.workspace_id),
                    Arg::Text(resealed),
                    Arg::Text(&row.sealed),
                ],
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let results = db.batch("d1: re-seal", stmts).await?;
    // Each statement names one row; count rows, not `changes` (D1 adds what triggers changed).
    let mut written = 0;
    for r in &results {
        written += usize::from(super::changes(r)? > 0);
    }
    Ok(written)
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

/// Values of `col` not sealed by `current` (a key id): two ranges of its index, read alone.
pub async fn not_sealed_by(db: &Db, col: &SealedColumn, current: &str) -> Result<i64, ApiError> {
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM {t} WHERE {by} < ?1) + (SELECT COUNT(*) FROM {t} WHERE {by} > ?1) AS n",
        t = col.table,
        by = col.sealed_by,
    );
    let row: Option<Count> = db
        .first("d1: count values to re-seal", &sql, &[Arg::Text(current)])
        .await?;
    Ok(row.map_or(0, |c| c.n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sealed_column_has_its_generated_column_and_index_in_migration_0011() {
        let sql = include_str!("../../migrations/0011_sealed_by.sql");
        for c in SEALED_COLUMNS {
            assert!(
                sql.contains(&format!(
                    "ALTER TABLE {} ADD COLUMN {} TEXT GENERATED",
                    c.table, c.sealed_by
                )),
                "{}",
                c.sealed_by
            );
            assert!(
                sql.contains(&format!("ON {} ({}, id)", c.table, c.sealed_by)),
                "index of {}",
                c.sealed_by
            );
            assert!(sql.contains(&format!("WHEN {} IS NULL", c.column)));
        }
    }

    #[test]
    fn sessions_are_sealed_for_their_account_and_the_rest_for_their_row() {
        assert_eq!(Aad::RowId.for_row("soc_1"), "soc_1");
        assert_eq!(Aad::Session.for_row("soc_1"), "soc_1:session");
    }
}
