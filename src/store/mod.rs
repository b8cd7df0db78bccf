//! D1 access. `Db` wraps the binding so every statement is counted and timed for
//! `Server-Timing`, and every failure becomes `Internal` with the step named. Store functions
//! that read or write workspace data take an `Authorized<…>` from `scope`, and still filter
//! every statement by `workspace_id`.

pub mod api_keys;
pub mod comments;
pub mod idempotency;
pub mod media;
pub mod members;
pub mod posts;
pub mod principals;
pub mod publishing;
pub mod social_accounts;
pub mod users;
pub mod webhook_deliveries;
pub mod webhook_outbox;
pub mod webhooks;
pub mod workspaces;

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

use crate::http::error::{ApiError, Context as _};
use crate::timing::{now_ms, SharedTiming};

/// A value bound to a statement parameter.
pub enum Arg<'a> {
    Text(&'a str),
    Owned(String),
    Int(i64),
    Null,
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(s)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Text(s)
    }
}

impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Arg::Int(n)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(s: Option<&'a str>) -> Self {
        s.map_or(Arg::Null, Arg::Text)
    }
}

impl From<&Arg<'_>> for JsValue {
    fn from(a: &Arg<'_>) -> Self {
        match a {
            Arg::Text(s) => JsValue::from_str(s),
            Arg::Owned(s) => JsValue::from_str(s),
            // D1 numbers are JS numbers; every integer we bind is far inside 2^53.
            Arg::Int(n) => JsValue::from_f64(*n as f64),
            Arg::Null => JsValue::NULL,
        }
    }
}

pub struct Db {
    d1: D1Database,
    timing: SharedTiming,
}

impl Db {
    pub fn new(d1: D1Database, timing: SharedTiming) -> Self {
        Db { d1, timing }
    }

    /// A prepared statement with its parameters bound, for `batch`.
    pub fn stmt(&self, sql: &str, args: &[Arg<'_>]) -> Result<D1PreparedStatement, ApiError> {
        let values: Vec<JsValue> = args.iter().map(JsValue::from).collect();
        self.d1.prepare(sql).bind(&values).ctx("d1: bind")
    }

    fn record(&self, statements: usize, started: f64) {
        let mut t = self.timing.borrow_mut();
        t.d1_statements += statements as u32;
        t.d1_ms += now_ms() - started;
    }

    pub async fn first<T: DeserializeOwned>(
        &self,
        step: &'static str,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<T>, ApiError> {
        let stmt = self.stmt(sql, args)?;
        let started = now_ms();
        let out = stmt.first::<T>(None).await;
        self.record(1, started);
        out.ctx(step)
    }

    pub async fn all<T: DeserializeOwned>(
        &self,
        step: &'static str,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>, ApiError> {
        let stmt = self.stmt(sql, args)?;
        let started = now_ms();
        let out = stmt.all().await;
        self.record(1, started);
        rows(out, step)
    }

    /// Runs a writing statement; returns how many rows it changed, so conditional updates
    /// can tell whether they won.
    pub async fn run(
        &self,
        step: &'static str,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<usize, ApiError> {
        let stmt = self.stmt(sql, args)?;
        let started = now_ms();
        let out = stmt.run().await;
        self.record(1, started);
        changes(&out.map_err(|e| on_constraint(e, step))?)
    }

    /// Runs statements in one implicit transaction: all of them or none.
    pub async fn batch(
        &self,
        step: &'static str,
        stmts: Vec<D1PreparedStatement>,
    ) -> Result<Vec<D1Result>, ApiError> {
        let n = stmts.len();
        let started = now_ms();
        let out = self.d1.batch(stmts).await;
        self.record(n, started);
        out.map_err(|e| on_constraint(e, step))
    }
}

pub fn rows<T: DeserializeOwned>(
    r: worker::Result<D1Result>,
    step: &'static str,
) -> Result<Vec<T>, ApiError> {
    r.ctx(step)?.results::<T>().ctx(step)
}

pub fn changes(r: &D1Result) -> Result<usize, ApiError> {
    Ok(r.meta()
        .ctx("d1: meta")?
        .and_then(|m| m.changes)
        .unwrap_or(0))
}

/// Unique-constraint failures that mean something to the client, by the index they hit.
/// Everything else is `Internal`.
fn on_constraint(e: worker::Error, step: &'static str) -> ApiError {
    let text = e.to_string();
    if text.contains("UNIQUE constraint failed") {
        if text.contains("workspaces.slug") {
            return ApiError::SlugTaken;
        }
        if text.contains("users.email") {
            return ApiError::EmailTaken;
        }
        if text.contains("memberships.workspace_id") {
            return ApiError::AlreadyMember;
        }
        if text.contains("social_accounts.workspace_id") {
            return ApiError::ChannelAlreadyConnected;
        }
    }
    ApiError::Internal(format!("{step}: {text}"))
}

/// A JSON array of strings, bound as one parameter and read in SQL with `json_each`, so one
/// statement serves any number of ids without meeting D1's 100-parameter limit.
pub fn json_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    serde_json::to_string(&items.into_iter().collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

/// SQLite booleans are integers; read them as `bool`.
pub fn bool_from_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let n: i64 = serde::Deserialize::deserialize(d)?;
    Ok(n != 0)
}
