//! Routes that need no credential and touch no storage.

use serde_json::json;

use crate::http::error::ApiError;
use crate::http::respond::Reply;

pub fn health() -> Result<Reply, ApiError> {
    Reply::json(200, &json!({ "status": "ok" }))
}

pub fn openapi() -> Result<Reply, ApiError> {
    Ok(Reply::raw_json(crate::openapi::document()))
}
