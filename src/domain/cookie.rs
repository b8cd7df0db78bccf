//! The dashboard's session cookie and the same-origin rule for requests it authenticates.
//!
//! The dashboard never hands its session token to script: sign-up and sign-in put it in an
//! `HttpOnly`, `SameSite=Strict` cookie. The API reads that cookie only when no
//! `Authorization` header is sent, only as a session token (never an API key), and a request
//! that changes state with it must carry an `Origin` equal to the API's own; a missing
//! `Origin` is refused too. Pure: parsing and formatting only.

/// The cookie's name over HTTPS. `__Host-` makes browsers insist on `Secure`, `Path=/` and no
/// `Domain`, so a sibling subdomain cannot plant or shadow it.
pub const SECURE_NAME: &str = "__Host-pb_session";
/// The name on plain-HTTP loopback (`make dev`, the browser tests), where `Secure` and so
/// `__Host-` cannot be used.
pub const LOCAL_NAME: &str = "pb_session";

/// Plain HTTP on `127.0.0.1` or `localhost` (any port): the only origins whose cookie is not
/// `Secure`. `origin` is `scheme://host[:port]` as the runtime serializes the request URL.
pub fn is_local_http(origin: &str) -> bool {
    let Some(authority) = origin.strip_prefix("http://") else {
        return false;
    };
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    host == "127.0.0.1" || host.eq_ignore_ascii_case("localhost")
}

/// The cookie's name for a deployment served at `origin`.
pub fn name(origin: &str) -> &'static str {
    if is_local_http(origin) {
        LOCAL_NAME
    } else {
        SECURE_NAME
    }
}

/// `Set-Cookie` opening a session: `HttpOnly` (script never reads it), `SameSite=Strict` (no
/// other site's page sends it), `Path=/`, `Max-Age` the session's life, and `Secure` except on
/// plain-HTTP loopback.
pub fn set(origin: &str, token: &str, max_age_s: i64) -> String {
    attributes(origin, token, max_age_s)
}

/// `Set-Cookie` removing the cookie (the same attributes, an empty value and `Max-Age=0`).
pub fn clear(origin: &str) -> String {
    attributes(origin, "", 0)
}

fn attributes(origin: &str, value: &str, max_age_s: i64) -> String {
    let secure = if is_local_http(origin) {
        ""
    } else {
        "; Secure"
    };
    format!(
        "{}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{secure}",
        name(origin)
    )
}

/// The value of cookie `name` in a `Cookie` header. `None` when it is absent, and also when it
/// is given twice: two cookies of one name mean one was planted (another path or domain), and
/// picking either could act as someone else.
pub fn read<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let mut found = None;
    for pair in header.split(';') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        if k.trim() == name {
            if found.is_some() {
                return None;
            }
            found = Some(v.trim().trim_matches('"'));
        }
    }
    found.filter(|v| !v.is_empty())
}

/// May a request authenticated by the cookie do this? Reads (`GET`, `HEAD`) from anywhere —
/// `SameSite=Strict` keeps other sites from sending the cookie, and without CORS headers no
/// other origin can read the answer; anything else only with an `Origin` equal to `own`.
pub fn allows(method: &str, origin_header: Option<&str>, own: &str) -> bool {
    matches!(method, "GET" | "HEAD") || same_origin(origin_header, own)
}

/// The request's `Origin` is exactly the API's own (`null` and a missing header are not).
pub fn same_origin(origin_header: Option<&str>, own: &str) -> bool {
    origin_header.is_some_and(|o| o.trim().eq_ignore_ascii_case(own))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_loopback_is_local() {
        for (origin, local) in [
            ("http://127.0.0.1:8787", true),
            ("http://127.0.0.1", true),
            ("http://localhost:3000", true),
            ("http://LOCALHOST", true),
            ("https://127.0.0.1:8787", false),
            ("https://localhost", false),
            ("http://api.test", false),
            ("https://postbridge.example", false),
            ("http://127.0.0.1.evil.example", false),
            ("http://localhost.evil.example:80", false),
            ("http://127.0.0.2:8787", false),
            ("http://[::1]:8787", false),
            ("http://127.0.0.1:", false),
            ("", false),
        ] {
            assert_eq!(is_local_http(origin), local, "{origin}");
        }
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_except_on_loopback() {
        assert_eq!(
            set("https://postbridge.example", "pb_sess_x", 2_592_000),
            "__Host-pb_session=pb_sess_x; Path=/; Max-Age=2592000; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(
            set("http://127.0.0.1:8787", "pb_sess_x", 60),
            "pb_session=pb_sess_x; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            set("http://api.test", "t", 1),
            "__Host-pb_session=t; Path=/; Max-Age=1; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(
            clear("http://localhost:8787"),
            "pb_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            clear("https://postbridge.example"),
            "__Host-pb_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure"
        );
    }

    #[test]
    fn cookies_are_read_by_exact_name_once() {
        for (header, want) in [
            ("pb_session=abc", Some("abc")),
            ("a=1; pb_session=abc; b=2", Some("abc")),
            ("a=1;pb_session=abc", Some("abc")),
            ("pb_session=\"abc\"", Some("abc")),
            ("xpb_session=abc", None),
            ("pb_session_x=abc", None),
            ("pb_session=", None),
            ("pb_session", None),
            ("", None),
            (";;;=;", None),
            ("pb_session=abc; pb_session=def", None),
            ("__Host-pb_session=abc", None),
            ("pb_session=a=b", Some("a=b")),
            ("é=ü; pb_session=abc", Some("abc")),
        ] {
            assert_eq!(read(header, LOCAL_NAME), want, "{header:?}");
        }
        assert_eq!(
            read("pb_session=a; __Host-pb_session=b", SECURE_NAME),
            Some("b")
        );
    }

    #[test]
    fn cookie_writes_need_the_own_origin_and_reads_do_not() {
        let own = "https://postbridge.example";
        for (method, origin, allowed) in [
            ("GET", None, true),
            ("HEAD", None, true),
            ("GET", Some("https://evil.example"), true),
            ("POST", Some(own), true),
            ("PATCH", Some("HTTPS://POSTBRIDGE.EXAMPLE"), true),
            ("DELETE", Some(own), true),
            ("POST", None, false),
            ("POST", Some("null"), false),
            ("POST", Some(""), false),
            ("POST", Some("https://evil.example"), false),
            (
                "POST",
                Some("https://postbridge.example.evil.example"),
                false,
            ),
            ("POST", Some("http://postbridge.example"), false),
            ("POST", Some("https://postbridge.example:444"), false),
            ("DELETE", Some("https://sub.postbridge.example"), false),
            ("PUT", None, false),
            ("OPTIONS", None, false),
        ] {
            assert_eq!(
                allows(method, origin, own),
                allowed,
                "{method} from {origin:?}"
            );
        }
    }
}
