//! JSON request bodies: size cap, then field-by-field reading that collects every problem
//! into one `VALIDATION_FAILED` with `details`, and refuses fields the endpoint does not know.

use serde_json::{Map, Value};
use sha2::Digest;
use worker::Request;

use super::error::{ApiError, Context as _, FieldError};
use crate::domain::DomainError;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Reads the body as a JSON object. An empty body reads as `{}`, so endpoints whose fields
/// are all optional accept a bodiless POST.
pub async fn read_json(req: &mut Request) -> Result<Fields, ApiError> {
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES as u64,
        });
    }
    let bytes = req.bytes().await.ctx("read request body")?;
    // A body must say it is JSON: a form or text/plain body is what a cross-site form can send
    // without a preflight, so refusing it closes that door (e.g. login CSRF).
    let content_type = req.headers().get("Content-Type").ok().flatten();
    if !bytes.iter().all(u8::is_ascii_whitespace) && !is_json(content_type.as_deref()) {
        return Err(ApiError::UnsupportedMediaType);
    }
    Fields::from_bytes(&bytes)
}

/// `application/json` or any `application/*+json`, parameters (charset) allowed.
pub fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A required field's value: readable once `Fields::finish` has confirmed that every
/// required field was present and valid.
pub struct Required<T>(Option<T>);

impl<T> Required<T> {
    /// For readers of nested objects (see `optional_objects`), whose `finish` the enclosing
    /// reader checks: the value, or `None` with the problem already recorded.
    pub fn into_inner(self) -> Option<T> {
        self.0
    }

    pub fn take(self, _proof: &Checked) -> T {
        self.0
            .expect("Fields::finish refuses a body with a missing required field")
    }
}

/// Returned by `Fields::finish` when the body was valid; carries the body's SHA-256, which
/// idempotency compares between a request and its replay.
pub struct Checked {
    pub fingerprint: String,
}

/// A JSON body being read field by field; `finish` refuses unknown fields and reports every
/// problem at once.
#[must_use = "a body is checked only by `finish`"]
pub struct Fields {
    fingerprint: String,
    map: Map<String, Value>,
    known: Vec<&'static str>,
    errors: Vec<FieldError>,
}

impl Fields {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES as u64,
            });
        }
        let fingerprint = hex::encode(sha2::Sha256::digest(bytes));
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Fields::new(Map::new(), fingerprint));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Fields::new(map, fingerprint)),
            Ok(_) => Err(ApiError::field("body", "must be a JSON object")),
            Err(e) => Err(ApiError::field("body", format!("is not valid JSON ({e})"))),
        }
    }

    fn new(map: Map<String, Value>, fingerprint: String) -> Self {
        Fields {
            fingerprint,
            map,
            known: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn problem(&mut self, field: &str, problem: impl Into<String>) {
        self.errors.push(FieldError::new(field, problem));
    }

    /// The raw string under `name`: `None` if absent or null; a type error is recorded.
    fn string(&mut self, name: &'static str) -> Option<String> {
        self.known.push(name);
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.problem(name, "must be a string");
                None
            }
        }
    }

    fn parse_with<T>(
        &mut self,
        name: &'static str,
        raw: Option<String>,
        parse: impl FnOnce(&str) -> Result<T, DomainError>,
    ) -> Option<T> {
        match parse(raw.as_deref()?) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(name, e.0);
                None
            }
        }
    }

    /// The body's `workspaceId`, one of the places a request may name its workspace; parsed
    /// by `scope::named_workspace` together with the others.
    pub fn workspace_id(&mut self) -> Option<String> {
        self.string("workspaceId")
    }

    /// A string field parsed into a domain type.
    pub fn optional<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, DomainError>,
    ) -> Option<T> {
        let raw = self.string(name);
        self.parse_with(name, raw, parse)
    }

    pub fn required<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, DomainError>,
    ) -> Required<T> {
        let raw = self.string(name);
        if raw.is_none() && !self.errors.iter().any(|e| e.field == name) {
            self.problem(name, "is required");
        }
        Required(self.parse_with(name, raw, parse))
    }

    pub fn optional_bool(&mut self, name: &'static str) -> Option<bool> {
        self.known.push(name);
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.problem(name, "must be a boolean");
                None
            }
        }
    }

    /// A non-negative whole number. `12.0` is one too: JSON Schema's `integer` is any number
    /// with a zero fractional part, and clients that only have doubles send it that way.
    pub fn optional_u64(&mut self, name: &'static str) -> Option<u64> {
        self.known.push(name);
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => match whole_number(v) {
                Some(n) => Some(n),
                None => {
                    self.problem(name, "must be a whole number of 0 or more");
                    None
                }
            },
        }
    }

    /// An array of strings, each parsed; at most `max` items.
    pub fn optional_list<T>(
        &mut self,
        name: &'static str,
        max: usize,
        parse: impl Fn(&str) -> Result<T, DomainError>,
    ) -> Option<Vec<T>> {
        let items = self.array(name, max, "must be an array of strings")?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_str().map(&parse) {
                Some(Ok(v)) => out.push(v),
                Some(Err(e)) => self.problem(&format!("{name}[{i}]"), e.0),
                None => self.problem(&format!("{name}[{i}]"), "must be a string"),
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    /// An array of strings that must be present (`null` counts as absent), each parsed.
    pub fn required_list<T>(
        &mut self,
        name: &'static str,
        max: usize,
        parse: impl Fn(&str) -> Result<T, DomainError>,
    ) -> Required<Vec<T>> {
        if self.map.get(name).is_none_or(Value::is_null) {
            self.known.push(name);
            self.problem(name, "is required");
            return Required(None);
        }
        Required(self.optional_list(name, max, parse))
    }

    /// The items of an optional array field of at most `max` items; `None` when absent, or
    /// when it is not such an array (reported with `not_array`).
    fn array(&mut self, name: &'static str, max: usize, not_array: &str) -> Option<Vec<Value>> {
        self.known.push(name);
        let items = match self.map.get(name) {
            None | Some(Value::Null) => return None,
            Some(Value::Array(items)) => items.clone(),
            Some(_) => {
                self.problem(name, not_array);
                return None;
            }
        };
        if items.len() > max {
            self.problem(name, format!("must have at most {max} items"));
            return None;
        }
        Some(items)
    }

    /// Any JSON value (an object of platform options, opaque credentials), at most `max_bytes`
    /// once serialised.
    pub fn optional_json(&mut self, name: &'static str, max_bytes: usize) -> Option<Value> {
        self.known.push(name);
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(v) if v.to_string().len() > max_bytes => {
                self.problem(name, format!("must be at most {max_bytes} bytes of JSON"));
                None
            }
            Some(v) => Some(v.clone()),
        }
    }

    /// An array of objects, each read by `item` with a `Fields` of its own whose problems are
    /// reported as `name[i].field`.
    pub fn optional_objects<T>(
        &mut self,
        name: &'static str,
        max: usize,
        item: impl Fn(&mut Fields) -> Option<T>,
    ) -> Option<Vec<T>> {
        let items = self.array(name, max, "must be an array")?;
        let given = items.len();
        let mut out = Vec::with_capacity(given);
        for (i, value) in items.into_iter().enumerate() {
            let Value::Object(map) = value else {
                self.problem(&format!("{name}[{i}]"), "must be an object");
                continue;
            };
            let mut inner = Fields::new(map, String::new());
            let parsed = item(&mut inner);
            match inner.finish() {
                Ok(_) => out.extend(parsed),
                Err(ApiError::Validation(errors)) => {
                    for e in errors {
                        self.problem(&format!("{name}[{i}].{}", e.field), e.problem);
                    }
                }
                Err(e) => self.problem(&format!("{name}[{i}]"), e.message()),
            }
        }
        (out.len() == given).then_some(out)
    }

    /// Marks a field the endpoint refuses with a reason (e.g. an immutable one).
    pub fn forbid(&mut self, name: &'static str, problem: &'static str) {
        self.known.push(name);
        if self.map.contains_key(name) {
            self.problem(name, problem);
        }
    }

    /// Whether the client sent `name` at all (even as null).
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Every problem at once, unknown fields included; or proof that the body was valid.
    pub fn finish(mut self) -> Result<Checked, ApiError> {
        let mut unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !self.known.contains(&k.as_str()))
            .cloned()
            .collect();
        unknown.sort();
        for k in unknown {
            self.problem(&k, "is not a field of this endpoint");
        }
        if self.errors.is_empty() {
            Ok(Checked {
                fingerprint: self.fingerprint,
            })
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// A JSON number with no fractional part, as a `u64`: exact up to 2^53 when written with a
/// fraction (`1e3`, `12.0`), where a double stops counting whole numbers one by one.
fn whole_number(v: &Value) -> Option<u64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=EXACT).contains(f))
            .map(|f| f as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::text::Name;

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        let n = |s: &str| whole_number(&serde_json::from_str(s).unwrap());
        assert_eq!(n("12"), Some(12));
        assert_eq!(n("12.0"), Some(12));
        assert_eq!(n("1e3"), Some(1000));
        assert_eq!(n("-0.0"), Some(0));
        assert_eq!(n("12.5"), None);
        assert_eq!(n("-1"), None);
        assert_eq!(n("1e300"), None);
        assert_eq!(n("\"12\""), None);
        assert_eq!(n("18446744073709551615"), Some(u64::MAX));
    }

    fn details(e: ApiError) -> Vec<(String, String)> {
        match e {
            ApiError::Validation(d) => d.into_iter().map(|f| (f.field, f.problem)).collect(),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn malformed_json_and_non_objects_are_refused() {
        assert_eq!(
            details(Fields::from_bytes(b"{\"a\":").err().unwrap())[0].0,
            "body"
        );
        assert_eq!(
            details(Fields::from_bytes(b"[1]").err().unwrap())[0].1,
            "must be a JSON object"
        );
        assert!(Fields::from_bytes(b"  ").is_ok());
    }

    #[test]
    fn only_json_content_types_are_json() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ] {
            assert!(is_json(Some(ok)), "{ok}");
        }
        for bad in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data"),
            Some("application/jsonp"),
        ] {
            assert!(!is_json(bad), "{bad:?}");
        }
    }

    #[test]
    fn oversized_bodies_are_413() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            Fields::from_bytes(&big).err().unwrap().code(),
            "PAYLOAD_TOO_LARGE"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut f =
            Fields::from_bytes(br#"{"name": 5, "flag": "yes", "extra": 1, "ids": ["a", 2]}"#)
                .unwrap();
        let _ = f.required("name", |s| Name::parse(s, 10));
        let _ = f.required("other", |s| Name::parse(s, 10));
        let _ = f.optional_bool("flag");
        let _ = f.optional_list("ids", 5, |s| Ok(s.to_owned()));
        let got = details(f.finish().err().unwrap());
        assert_eq!(
            got,
            vec![
                ("name".into(), "must be a string".into()),
                ("other".into(), "is required".into()),
                ("flag".into(), "must be a boolean".into()),
                ("ids[1]".into(), "must be a string".into()),
                ("extra".into(), "is not a field of this endpoint".into()),
            ]
        );
    }

    #[test]
    fn required_lists_must_be_present() {
        for body in [&br#"{}"#[..], br#"{"ids": null}"#] {
            let mut f = Fields::from_bytes(body).unwrap();
            let _ = f.required_list("ids", 3, |s| Ok(s.to_owned()));
            assert_eq!(
                details(f.finish().err().unwrap()),
                vec![("ids".into(), "is required".into())]
            );
        }
        let mut f = Fields::from_bytes(br#"{"ids": ["a", "b"]}"#).unwrap();
        let ids = f.required_list("ids", 3, |s| Ok(s.to_owned()));
        let ok = f.finish().unwrap();
        assert_eq!(ids.take(&ok), vec!["a", "b"]);
        let mut f = Fields::from_bytes(br#"{"ids": ["a", "b", "c", "d"]}"#).unwrap();
        let _ = f.required_list("ids", 3, |s| Ok(s.to_owned()));
        assert_eq!(
            details(f.finish().err().unwrap()),
            vec![("ids".into(), "must have at most 3 items".into())]
        );
    }

    #[test]
    fn valid_bodies_yield_their_values() {
        let mut f = Fields::from_bytes(br#"{"name": " Acme ", "slug": null}"#).unwrap();
        let name = f.required("name", |s| Name::parse(s, 10));
        let slug = f.optional("slug", |s| Name::parse(s, 10));
        let checked = f.finish().unwrap();
        assert_eq!(name.take(&checked).as_str(), "Acme");
        assert!(slug.is_none());
    }

    #[test]
    fn domain_problems_name_their_field() {
        let mut f = Fields::from_bytes(br#"{"name": "far too long a name"}"#).unwrap();
        let _ = f.required("name", |s| Name::parse(s, 10));
        assert_eq!(
            details(f.finish().err().unwrap()),
            vec![("name".into(), "is too long".into())]
        );
    }
}
