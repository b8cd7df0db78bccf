//! The OpenAPI 3.1 document, served verbatim at `GET /api/v1/openapi.json`, and the contract
//! test that keeps it in step with the route table (`http::router::ROUTES`), the error codes
//! (`http::error::ALL_CODES`) and what each handler does with the request (needs a credential,
//! reads a JSON body or the raw body, takes an `Idempotency-Key`).

/// The document, minified at build time (`build.rs`), unpacked once per isolate (`embedded`).
pub fn document() -> &'static str {
    crate::embedded::document()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

    use super::document;
    use crate::http::error::{ApiError, ALL_CODES};
    use crate::http::router::{BASE, ROUTES};

    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn doc() -> Value {
        serde_json::from_str(document()).expect("src/openapi.json is not valid JSON")
    }

    /// Follows local `$ref`s until a value that is not a reference.
    fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
        for _ in 0..16 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return v;
            };
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("non-local $ref {r}"));
            v = doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {r}"));
        }
        panic!("$ref chain too long")
    }

    struct Op<'a> {
        method: String,
        path: &'a str,
        item: &'a Value,
        op: &'a Value,
    }

    impl<'a> Op<'a> {
        fn name(&self) -> String {
            format!("{} {}", self.method, self.path)
        }

        fn is_public(&self) -> bool {
            self.op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
        }

        fn response(&self, doc: &'a Value, status: &str) -> Option<&'a Value> {
            self.op["responses"].get(status).map(|r| resolve(doc, r))
        }
    }

    fn operations(doc: &Value) -> Vec<Op<'_>> {
        let paths = doc["paths"].as_object().expect("`paths` is an object");
        let mut out = Vec::new();
        for (path, item) in paths {
            let item = resolve(doc, item);
            for m in METHODS {
                if let Some(op) = item.get(*m) {
                    out.push(Op {
                        method: m.to_ascii_uppercase(),
                        path,
                        item,
                        op,
                    });
                }
            }
        }
        out
    }

    /// The errors the documented routes answer with, to map each code named in a response to
    /// its status. A code a response names that is missing here fails
    /// `error_responses_name_codes_of_their_own_status` until it is added.
    fn known_statuses() -> BTreeMap<&'static str, u16> {
        [
            ApiError::Unauthorized,
            ApiError::InvalidCredentials,
            ApiError::SessionRequired,
            ApiError::OriginForbidden,
            ApiError::WorkspaceForbidden,
            ApiError::RoleForbidden,
            ApiError::WorkspaceConflict,
            ApiError::WorkspaceRequired,
            ApiError::Validation(vec![]),
            ApiError::MustSpecifyExactlyOne,
            ApiError::AccountsSpanWorkspaces,
            ApiError::InvalidState {
                current: String::new(),
            },
            ApiError::NothingToRetry,
            ApiError::PublishingNotSupported(vec![]),
            ApiError::ChannelAlreadyConnected,
            ApiError::IdempotencyKeyReused,
            ApiError::IdempotencyKeyInUse,
            ApiError::NotFound,
            ApiError::PayloadTooLarge { limit: 0 },
            ApiError::UnsupportedMediaType,
            ApiError::UploadIncomplete,
            ApiError::FolderNotEmpty,
            ApiError::UrlNotAllowed(String::new()),
            ApiError::UpstreamFailed(String::new()),
            ApiError::UserNotFound,
            ApiError::EmailTaken,
            ApiError::SlugTaken,
            ApiError::AlreadyMember,
            ApiError::LastOwner,
            ApiError::PreconditionRequired,
            ApiError::StaleRevision,
            ApiError::KeyLimitReached { limit: 0 },
            ApiError::RateLimited { retry_after_ms: 0 },
            ApiError::Internal(String::new()),
        ]
        .iter()
        .map(|e| (e.code(), e.status()))
        .collect()
    }

    fn set_diff(label: &str, doc: &BTreeSet<String>, code: &BTreeSet<String>) -> Vec<String> {
        let mut problems = Vec::new();
        for x in code.difference(doc) {
            problems.push(format!("{label} missing from openapi.json: {x}"));
        }
        for x in doc.difference(code) {
            problems.push(format!("{label} in openapi.json but not in the code: {x}"));
        }
        problems
    }

    #[test]
    fn document_is_openapi_3_1_under_the_base_path() {
        let d = doc();
        assert_eq!(d["openapi"], "3.1.0");
        assert_eq!(d["info"]["title"], "PostBridge API");
        assert_eq!(d["info"]["version"], "1.0.0");
        assert_eq!(d["servers"][0]["url"], BASE);
        assert_eq!(
            d["components"]["securitySchemes"]["bearerAuth"]["scheme"],
            "bearer"
        );
        assert_eq!(d["security"][0]["bearerAuth"], Value::Array(vec![]));
    }

    #[test]
    fn paths_match_the_route_table_exactly() {
        let d = doc();
        let documented: BTreeSet<String> = operations(&d).iter().map(Op::name).collect();
        let routed: BTreeSet<String> = ROUTES.iter().map(|(m, p, _)| format!("{m} {p}")).collect();
        assert_eq!(
            documented.len(),
            operations(&d).len(),
            "an operation is documented twice"
        );
        let problems = set_diff("route", &documented, &routed);
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }

    #[test]
    fn error_codes_match_all_codes() {
        let d = doc();
        let error = &d["components"]["schemas"]["Error"];
        let codes: Vec<String> = error["properties"]["code"]["enum"]
            .as_array()
            .expect("Error.code has an enum")
            .iter()
            .map(|c| c.as_str().expect("codes are strings").to_owned())
            .collect();
        let documented: BTreeSet<String> = codes.iter().cloned().collect();
        assert_eq!(documented.len(), codes.len(), "a code is listed twice");
        let known: BTreeSet<String> = ALL_CODES.iter().map(|c| (*c).to_owned()).collect();
        let problems = set_diff("error code", &documented, &known);
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
        let required: Vec<&str> = error["required"]
            .as_array()
            .expect("Error.required")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for field in ["statusCode", "code", "message", "requestId"] {
            assert!(required.contains(&field), "Error must require {field}");
        }
        assert_eq!(
            error["properties"]["requestId"]["pattern"],
            "^req_[0-9A-Za-z]{16}$"
        );
    }

    /// The codes a target's `error` may carry, and the spellings of attempt outcomes, are the
    /// publisher's own.
    #[test]
    fn publishing_enums_match_the_publisher() {
        use crate::domain::publish::outcome::ErrorCode;
        use crate::store::publishing::AttemptOutcome;
        let d = doc();
        let schemas = &d["components"]["schemas"];
        let listed = |v: &Value| -> Vec<String> {
            v.as_array()
                .expect("an enum")
                .iter()
                .map(|c| c.as_str().expect("strings").to_owned())
                .collect()
        };
        let target_codes = listed(&schemas["TargetErrorCode"]["enum"]);
        let ours: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        assert_eq!(target_codes, ours);
        let outcomes = listed(&schemas["PublishAttempt"]["properties"]["outcome"]["enum"]);
        let mut ours: Vec<String> = vec!["IN_FLIGHT".to_owned()];
        ours.extend(
            [
                AttemptOutcome::Published,
                AttemptOutcome::AlreadyPublished,
                AttemptOutcome::Retrying,
                AttemptOutcome::Unknown,
                AttemptOutcome::Failed,
            ]
            .iter()
            .map(|o| o.as_str().to_owned()),
        );
        assert_eq!(outcomes, ours);
        let target = &schemas["Target"];
        for field in [
            "status",
            "platformPostId",
            "url",
            "publishedAt",
            "attempts",
            "error",
        ] {
            assert!(
                target["required"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|f| f == field)),
                "Target must require {field}"
            );
        }
    }

    /// Each error response lists the codes it may carry; each must have that response's status.
    #[test]
    fn error_responses_name_codes_of_their_own_status() {
        let d = doc();
        let status_of = known_statuses();
        let mut problems = Vec::new();
        for op in operations(&d) {
            for (status, response) in op.op["responses"].as_object().expect("responses") {
                let response = resolve(&d, response);
                let Some(schema) = response.pointer("/content/application~1json/schema") else {
                    continue;
                };
                let Some(parts) = schema.get("allOf").and_then(Value::as_array) else {
                    continue;
                };
                for part in parts {
                    let Some(codes) = part.pointer("/properties/code/enum") else {
                        continue;
                    };
                    for code in codes.as_array().expect("an enum is an array") {
                        let code = code.as_str().expect("codes are strings");
                        match status_of.get(code) {
                            Some(s) if s.to_string() == *status => {}
                            Some(s) => problems.push(format!(
                                "{}: {code} is {s}, listed under {status}",
                                op.name()
                            )),
                            None if !ALL_CODES.contains(&code) => {
                                problems.push(format!("{}: unknown code {code}", op.name()))
                            }
                            None => problems.push(format!(
                                "{}: add {code} to known_statuses() in this test",
                                op.name()
                            )),
                        }
                    }
                }
            }
        }
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }

    #[test]
    fn operation_ids_are_unique_and_protected_operations_declare_401() {
        let d = doc();
        let mut ids = BTreeSet::new();
        let mut public = BTreeSet::new();
        for op in operations(&d) {
            let id = op.op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{} has no operationId", op.name()));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            assert!(
                op.response(&d, "500").is_some(),
                "{} declares no 500",
                op.name()
            );
            if op.is_public() {
                public.insert(op.name());
            } else {
                assert!(
                    op.response(&d, "401").is_some(),
                    "{} needs a credential but declares no 401",
                    op.name()
                );
            }
        }
        let expected: BTreeSet<String> = [
            "GET /health",
            "GET /openapi.json",
            "POST /auth/signup",
            "POST /auth/login",
            "PUT /media/{mediaId}/upload",
            "GET /media/{mediaId}/download",
            "POST /dashboard/signup",
            "POST /dashboard/login",
            "POST /dashboard/logout",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(public, expected, "the operations without a credential");
        assert_eq!(
            public,
            answered_before_authentication(),
            "`security: []` must be exactly the routes api/mod.rs answers before `authenticate`"
        );
    }

    #[test]
    fn every_path_parameter_is_declared() {
        let d = doc();
        let mut problems = Vec::new();
        for op in operations(&d) {
            let in_template: BTreeSet<&str> = op
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            let declared: BTreeSet<&str> = [&op.item["parameters"], &op.op["parameters"]]
                .into_iter()
                .filter_map(Value::as_array)
                .flatten()
                .map(|p| resolve(&d, p))
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    if p["required"] != Value::Bool(true) {
                        problems.push(format!("{}: path parameter not required", op.name()));
                    }
                    p["name"].as_str().expect("a parameter has a name")
                })
                .collect();
            for p in in_template.difference(&declared) {
                problems.push(format!("{}: {{{p}}} is not declared", op.name()));
            }
            for p in declared.difference(&in_template) {
                problems.push(format!(
                    "{}: {p} is declared but not in the path",
                    op.name()
                ));
            }
        }
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }

    /// A JSON body is the only content of its `requestBody`; any other body (the raw bytes of
    /// a media upload) declares no JSON at all.
    fn json_body<'a>(d: &'a Value, op: &Op<'a>) -> Option<&'a Value> {
        let content = resolve(d, op.op.get("requestBody")?)["content"]
            .as_object()
            .unwrap_or_else(|| panic!("{}: requestBody has no content", op.name()));
        let json = content.get("application/json")?;
        assert_eq!(
            content.len(),
            1,
            "{}: a JSON body is offered as JSON only",
            op.name()
        );
        Some(json)
    }

    #[test]
    fn bodies_are_strict_and_may_be_too_large() {
        let d = doc();
        for op in operations(&d) {
            if op.op.get("requestBody").is_none() {
                continue;
            }
            if let Some(json) = json_body(&d, &op) {
                let schema = resolve(
                    &d,
                    json.get("schema")
                        .unwrap_or_else(|| panic!("{}: JSON body has no schema", op.name())),
                );
                assert_eq!(
                    schema["additionalProperties"],
                    Value::Bool(false),
                    "{}: unknown body fields are refused",
                    op.name()
                );
            }
            for status in ["400", "413"] {
                assert!(
                    op.response(&d, status).is_some(),
                    "{} takes a body but declares no {status}",
                    op.name()
                );
            }
        }
    }

    #[test]
    fn every_response_carries_the_request_id_and_every_ref_resolves() {
        let d = doc();
        for op in operations(&d) {
            for (status, response) in op.op["responses"].as_object().expect("responses") {
                let headers = &resolve(&d, response)["headers"];
                for h in ["X-Request-Id", "Server-Timing"] {
                    assert!(
                        headers.get(h).is_some(),
                        "{} {status}: no {h} header",
                        op.name()
                    );
                }
            }
        }
        fn walk(d: &Value, v: &Value) {
            match v {
                Value::Object(m) => {
                    if m.contains_key("$ref") {
                        resolve(d, v);
                    }
                    m.values().for_each(|x| walk(d, x));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(d, x)),
                _ => {}
            }
        }
        walk(&d, &d);
    }

    /// The dispatcher and the handler modules, read as text: what a handler does with the
    /// request is checked against what the document says of its operation. A handler module
    /// missing here fails `handler_of` until it is added.
    const DISPATCH: &str = include_str!("api/mod.rs");
    const HANDLER_MODULES: &[(&str, &str)] = &[
        ("api_keys", include_str!("api/api_keys.rs")),
        ("auth", include_str!("api/auth.rs")),
        ("comments", include_str!("api/comments.rs")),
        ("me", include_str!("api/me.rs")),
        // One resource in several files: read as one text.
        (
            "media",
            concat!(
                include_str!("api/media/mod.rs"),
                include_str!("api/media/uploads.rs"),
                include_str!("api/media/assets.rs"),
                include_str!("api/media/ingest.rs"),
                include_str!("api/media/folders.rs"),
            ),
        ),
        ("members", include_str!("api/members.rs")),
        ("posts", include_str!("api/posts.rs")),
        ("service", include_str!("api/service.rs")),
        ("social_accounts", include_str!("api/social_accounts.rs")),
        ("webhooks", include_str!("api/webhooks.rs")),
        ("workspaces", include_str!("api/workspaces.rs")),
    ];

    /// The source of the function that `dispatch` calls for `route` (its arm
    /// `Route::X => module::function(…)`), from its signature to its closing brace, followed by
    /// the private functions of its module that it calls, transitively: a handler that
    /// delegates to a shared helper is judged by what it runs.
    fn handler_of(route: &str) -> String {
        let arm = format!("Route::{route} =>");
        let mut calls = BTreeSet::new();
        for (at, _) in DISPATCH.match_indices(&arm) {
            let rest = DISPATCH[at + arm.len()..].trim_start();
            let rest = rest.strip_prefix('{').unwrap_or(rest).trim_start();
            let rest = rest.strip_prefix("return ").unwrap_or(rest);
            let call = rest.split('(').next().unwrap_or_default().trim();
            if call.contains("::") {
                calls.insert(call);
            }
        }
        assert_eq!(
            calls.len(),
            1,
            "cannot tell which handler api/mod.rs calls for Route::{route}: {calls:?}"
        );
        let call = calls.into_iter().next().unwrap_or_default();
        let (module, function) = call.split_once("::").expect("module::function");
        let source = HANDLER_MODULES
            .iter()
            .find(|(m, _)| *m == module)
            .unwrap_or_else(|| panic!("add api/{module}.rs to HANDLER_MODULES in this test"))
            .1;
        let handler = fn_source(source, &format!("fn {function}"))
            .unwrap_or_else(|| panic!("no fn {function} in api/{module}.rs"));
        let mut out = handler.to_owned();
        let mut seen = BTreeSet::from([function.to_owned()]);
        let mut queue = called_names(handler);
        while let Some(name) = queue.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            // Private helpers only: a line that starts with `fn` or `async fn`, not `pub`.
            for head in [format!("\nfn {name}"), format!("\nasync fn {name}")] {
                if let Some(helper) = fn_source(source, &head) {
                    queue.extend(called_names(helper));
                    out.push_str(helper);
                }
            }
        }
        out
    }

    /// From `head` (`fn name`, followed by `(` or `<`) to the function's closing brace.
    fn fn_source(source: &'static str, head: &str) -> Option<&'static str> {
        let start = [format!("{head}("), format!("{head}<")]
            .iter()
            .filter_map(|h| source.find(h.as_str()))
            .min()?;
        let len = source[start..]
            .find("\n}\n")
            .map_or(source.len() - start, |n| n + 3);
        Some(&source[start..start + len])
    }

    /// The names called in `body`: identifiers right before a `(`.
    fn called_names(body: &str) -> Vec<String> {
        body.match_indices('(')
            .filter_map(|(at, _)| {
                let before = &body[..at];
                let start = before
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(0, |i| i + 1);
                let name = &before[start..];
                (!name.is_empty()).then(|| name.to_owned())
            })
            .collect()
    }

    /// The routes `dispatch` answers before it calls `authenticate`: those that take no bearer
    /// credential (the arms `Route::X =>` of the first `match`).
    fn answered_before_authentication() -> BTreeSet<String> {
        let (before, _) = DISPATCH
            .split_once("authenticate(ctx)")
            .expect("api/mod.rs calls authenticate(ctx)");
        let names: BTreeSet<&str> = before
            .match_indices("Route::")
            .filter_map(|(at, m)| {
                let rest = &before[at + m.len()..];
                let end = rest.find(|c: char| !c.is_ascii_alphanumeric())?;
                rest[end..]
                    .trim_start()
                    .starts_with("=>")
                    .then(|| &rest[..end])
            })
            .collect();
        let public: BTreeSet<String> = ROUTES
            .iter()
            .filter(|(_, _, route)| names.contains(format!("{route:?}").as_str()))
            .map(|(m, p, _)| format!("{m} {p}"))
            .collect();
        assert_eq!(
            public.len(),
            names.len(),
            "a route answered before authentication is not in ROUTES: {names:?}"
        );
        public
    }

    /// Each documented route's operation, with its handler's source. (A route missing from the
    /// document fails `paths_match_the_route_table_exactly`, not the tests that use this.)
    fn routed_operations(d: &Value) -> Vec<(Op<'_>, String)> {
        let mut ops: BTreeMap<String, Op<'_>> =
            operations(d).into_iter().map(|o| (o.name(), o)).collect();
        ROUTES
            .iter()
            .filter_map(|(m, p, route)| {
                let op = ops.remove(&format!("{m} {p}"))?;
                Some((op, handler_of(&format!("{route:?}"))))
            })
            .collect()
    }

    fn codes_of(d: &Value, response: &Value) -> Vec<String> {
        resolve(d, response)
            .pointer("/content/application~1json/schema/allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|part| part.pointer("/properties/code/enum")?.as_array())
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    }

    /// A handler that calls `read_json` takes a body: the operation declares it as JSON, and 415
    /// for a body that is not JSON. One that streams the raw request body (`req.inner().body()`)
    /// declares a body that is not JSON, and no 415. Any other declares neither.
    #[test]
    fn json_bodies_are_declared_with_415() {
        let d = doc();
        let mut problems = Vec::new();
        for (op, handler) in routed_operations(&d) {
            let reads = handler.contains("read_json(");
            let compact: String = handler.split_whitespace().collect();
            let streams = compact.contains("req.inner().body()");
            assert!(
                !(reads && streams),
                "{}: reads the body both as JSON and raw",
                op.name()
            );
            let has_body = json_body(&d, &op).is_some();
            let has_raw_body = op.op.get("requestBody").is_some() && !has_body;
            if streams != has_raw_body {
                problems.push(format!(
                    "{}: handler streams the raw body: {streams}, non-JSON requestBody declared: {has_raw_body}",
                    op.name()
                ));
            }
            let has_415 = op
                .response(&d, "415")
                .is_some_and(|r| codes_of(&d, r) == ["UNSUPPORTED_MEDIA_TYPE"]);
            if reads != has_body {
                problems.push(format!(
                    "{}: handler reads a JSON body: {reads}, JSON requestBody declared: {has_body}",
                    op.name()
                ));
            }
            if reads != has_415 {
                problems.push(format!(
                    "{}: handler reads a JSON body: {reads}, 415 UNSUPPORTED_MEDIA_TYPE declared: {has_415}",
                    op.name()
                ));
            }
        }
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }

    /// A handler that runs its work through `idempotency::once` declares the `Idempotency-Key`
    /// header, the replay marker on its 201 and both idempotency conflicts; one that calls
    /// `refuse_for_secrets` (or neither) does not offer the header.
    #[test]
    fn idempotency_is_declared_where_handlers_honour_it() {
        let d = doc();
        let mut problems = Vec::new();
        let mut honoured = 0;
        for (op, handler) in routed_operations(&d) {
            let takes_key = [&op.item["parameters"], &op.op["parameters"]]
                .into_iter()
                .filter_map(Value::as_array)
                .flatten()
                .map(|p| resolve(&d, p))
                .any(|p| p["in"] == "header" && p["name"] == "Idempotency-Key");
            let honours = handler.contains("once(ctx") || handler.contains("once_storing(ctx");
            if handler.contains("refuse_for_secrets(") {
                assert!(!honours, "{}: both honours and refuses keys", op.name());
                let refusal = op.op["description"]
                    .as_str()
                    .is_some_and(|t| t.contains("`Idempotency-Key` header is refused"));
                if !refusal {
                    problems.push(format!(
                        "{}: refuses an Idempotency-Key but does not say so",
                        op.name()
                    ));
                }
            }
            if honours != takes_key {
                problems.push(format!(
                    "{}: handler honours Idempotency-Key: {honours}, header declared: {takes_key}",
                    op.name()
                ));
            }
            if !honours {
                continue;
            }
            honoured += 1;
            let replayed = op
                .response(&d, "201")
                .is_some_and(|r| r["headers"].get("Idempotent-Replayed").is_some());
            if !replayed {
                problems.push(format!("{}: 201 lacks Idempotent-Replayed", op.name()));
            }
            let conflicts = op.response(&d, "409").map(|r| codes_of(&d, r));
            for code in ["IDEMPOTENCY_KEY_REUSED", "IDEMPOTENCY_KEY_IN_USE"] {
                if !conflicts
                    .as_ref()
                    .is_some_and(|c| c.iter().any(|x| x == code))
                {
                    problems.push(format!("{}: 409 does not list {code}", op.name()));
                }
            }
        }
        assert!(honoured > 0, "no handler calls idempotency::once");
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }

    /// A handler that sets a `Location` header declares it on its 201, and one that does not
    /// declares none (keys, memberships and comments have no URL of their own to read).
    #[test]
    fn location_is_declared_where_handlers_send_it() {
        let d = doc();
        let mut problems = Vec::new();
        let mut sending = 0;
        for (op, handler) in routed_operations(&d) {
            let sends = handler.contains(".header(\"Location\"");
            sending += usize::from(sends);
            let declared = op
                .op
                .pointer("/responses/201")
                .map(|r| resolve(&d, r))
                .is_some_and(|r| r["headers"].get("Location").is_some());
            if sends != declared {
                problems.push(format!(
                    "{}: handler sends Location: {sends}, 201 declares Location: {declared}",
                    op.name()
                ));
            }
        }
        assert!(sending > 0, "no handler sends a Location header");
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }

    /// An `INVALID_STATE` conflict always tells the client which status stood in the way.
    /// Every text field the API reads as a name or as written text states the rule in a
    /// `pattern`, and the pattern never admits what the API refuses, so a client (or a fuzzer)
    /// that generates from the document is not turned away for control characters or blanks.
    #[test]
    fn text_patterns_admit_only_what_the_api_accepts() {
        use crate::domain::text::{long_text, Name};
        const SAMPLES: &[&str] = &[
            "Acme Corp",
            "  Acme  ",
            "é",
            "日本語",
            "a\u{2028}b",
            "\u{a0}x\u{a0}",
            "a\nb",
            "a\tb",
            "a\rb",
            "x\n",
            "",
            " ",
            "\t",
            "\n",
            "\r\n",
            "\u{a0}",
            "\u{3000}",
            "\u{2028}",
            "x\u{0}",
            "\u{7f}x",
            "x\u{85}",
            "\u{9f}",
            "\u{1b}[0m",
            "a\u{b}b",
            "a\u{c}b",
        ];
        let d = doc();
        let mut checked = 0;
        for (name, schema) in d["components"]["schemas"].as_object().unwrap() {
            let Some(props) = schema["properties"].as_object() else {
                continue;
            };
            for (field, p) in props {
                let desc = p["description"].as_str().unwrap_or_default();
                let api: fn(&str, usize) -> bool = if desc.contains("Trimmed, then") {
                    |s, max| Name::parse(s, max).is_ok()
                } else if desc.contains("Not blank") {
                    |s, max| long_text(s, max).is_ok()
                } else {
                    continue;
                };
                let pattern = p["pattern"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}.{field}: text without a pattern"));
                let re = regex::Regex::new(pattern).expect("pattern compiles");
                let max = p["maxLength"].as_u64().expect("maxLength") as usize;
                for s in SAMPLES {
                    if re.is_match(s) {
                        assert!(api(s, max), "{name}.{field}: pattern admits {s:?}");
                    }
                }
                assert!(re.is_match("Acme"), "{name}.{field}: refuses plain text");
                checked += 1;
            }
        }
        assert!(checked >= 15, "only {checked} text fields found");
    }

    #[test]
    fn invalid_state_responses_require_current_status() {
        let d = doc();
        for op in operations(&d) {
            let Some(r) = op.response(&d, "409") else {
                continue;
            };
            if !codes_of(&d, r).iter().any(|c| c == "INVALID_STATE") {
                continue;
            }
            let parts = r
                .pointer("/content/application~1json/schema/allOf")
                .and_then(Value::as_array)
                .expect("an error schema is an allOf");
            // Required outright, or (where the 409 has other codes too) when the code is
            // INVALID_STATE.
            let requires = |p: &Value| {
                p["required"]
                    .as_array()
                    .is_some_and(|r| r.contains(&Value::from("currentStatus")))
            };
            let required = parts.iter().any(|p| {
                requires(p)
                    || (p["if"]["properties"]["code"]["const"] == "INVALID_STATE"
                        && requires(&p["then"]))
            });
            assert!(
                required,
                "{}: 409 INVALID_STATE must require currentStatus",
                op.name()
            );
        }
    }
}
