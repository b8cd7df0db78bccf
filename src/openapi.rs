//! The OpenAPI 3.1 document, served verbatim at `GET /api/v1/openapi.json`, and the contract
//! test that keeps it in step with the route table (`http::router::ROUTES`) and the error codes
//! (`http::error::ALL_CODES`).

pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

    use super::DOCUMENT;
    use crate::http::error::{ApiError, ALL_CODES};
    use crate::http::router::{BASE, ROUTES};

    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn doc() -> Value {
        serde_json::from_str(DOCUMENT).expect("src/openapi.json is not valid JSON")
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
            ApiError::WorkspaceForbidden,
            ApiError::RoleForbidden,
            ApiError::WorkspaceConflict,
            ApiError::Validation(vec![]),
            ApiError::NotFound,
            ApiError::PayloadTooLarge { limit: 0 },
            ApiError::UserNotFound,
            ApiError::EmailTaken,
            ApiError::SlugTaken,
            ApiError::AlreadyMember,
            ApiError::LastOwner,
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
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(public, expected, "the operations without a credential");
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

    #[test]
    fn bodies_are_strict_and_may_be_too_large() {
        let d = doc();
        for op in operations(&d) {
            let Some(body) = op.op.get("requestBody") else {
                continue;
            };
            let schema = resolve(
                &d,
                resolve(&d, body)
                    .pointer("/content/application~1json/schema")
                    .unwrap_or_else(|| panic!("{}: body is not JSON", op.name())),
            );
            assert_eq!(
                schema["additionalProperties"],
                Value::Bool(false),
                "{}: unknown body fields are refused",
                op.name()
            );
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
}
