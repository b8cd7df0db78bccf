//! Whether this deployment may serve: in production, the secrets must be real. A worker deployed
//! with `ENVIRONMENT=production` whose `CREDENTIALS_KEY` or `MEDIA_CAPABILITY_SECRET` still holds
//! the development value from wrangler.toml (or is missing, or shorter than 32 bytes) answers
//! every request with the 500 envelope, its log line naming the variable, rather than seal
//! credentials and sign upload URLs with a key anyone can read in the repository. During a key
//! rotation `CREDENTIALS_KEY_PREVIOUS`, when set, is held to the same rules as the key, and must
//! differ from it.
//!
//! Bindings cannot change within an isolate, so the verdict is taken once per isolate and kept:
//! the hot path pays one thread-local read.

use std::cell::OnceCell;

use worker::Env;

use crate::auth::credential::constant_time_eq;
use crate::http::error::ApiError;

/// The development values wrangler.toml ships (a native test keeps these equal to the file).
pub const DEV_CREDENTIALS_KEY: &str =
    "6465762d6f6e6c792d6b65792d646f2d6e6f742d7573652d696e2d70726f6421";
pub const DEV_MEDIA_CAPABILITY_SECRET: &str = "dev-only-capability-secret-do-not-use-in-production";
/// The least a secret may hold, in bytes (for `CREDENTIALS_KEY`, of the key its hex decodes to).
pub const MIN_SECRET_BYTES: usize = 32;

thread_local! {
    static VERDICT: OnceCell<Result<(), String>> = const { OnceCell::new() };
}

/// `Ok` when the deployment may serve; else `Internal` naming what is wrong (logged, never sent).
pub fn check(env: &Env) -> Result<(), ApiError> {
    VERDICT.with(|v| {
        v.get_or_init(|| {
            let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
            refusal(
                var("ENVIRONMENT").as_deref(),
                Keys {
                    current: var(crate::seal::KEY_VAR).as_deref(),
                    previous: var(crate::seal::PREVIOUS_KEY_VAR).as_deref(),
                },
                var("MEDIA_CAPABILITY_SECRET").as_deref(),
            )
            .map_or(Ok(()), Err)
        })
        .clone()
        .map_err(ApiError::Internal)
    })
}

/// The values of `CREDENTIALS_KEY` and `CREDENTIALS_KEY_PREVIOUS`.
#[derive(Clone, Copy, Default)]
pub struct Keys<'a> {
    pub current: Option<&'a str>,
    pub previous: Option<&'a str>,
}

/// Why a deployment with these variables must not serve, or `None`. Only production is held to
/// it: development and tests run with the values wrangler.toml and the harness set.
pub fn refusal(
    environment: Option<&str>,
    keys: Keys<'_>,
    capability_secret: Option<&str>,
) -> Option<String> {
    // Spelled loosely on purpose: `Production` must not slip past the check.
    if !environment.is_some_and(|e| e.trim().eq_ignore_ascii_case("production")) {
        return None;
    }
    let refuse = |name: &str, why: &str| {
        Some(format!(
            "deployment: {name} {why}; set it with `wrangler secret put {name}`"
        ))
    };
    let current = match key_problem(keys.current) {
        Err(why) => return refuse(crate::seal::KEY_VAR, why),
        Ok(k) => k,
    };
    // Blank is unset: the rotation is over (or never began).
    if let Some(previous) = keys.previous.filter(|p| !p.trim().is_empty()) {
        match key_problem(Some(previous)) {
            Err(why) => return refuse(crate::seal::PREVIOUS_KEY_VAR, why),
            Ok(p) if constant_time_eq(&p, &current) => {
                return refuse(
                    crate::seal::PREVIOUS_KEY_VAR,
                    "is the same key as CREDENTIALS_KEY (set it to the key being replaced, or delete it)",
                )
            }
            Ok(_) => {}
        }
    }
    match capability_secret {
        None => refuse("MEDIA_CAPABILITY_SECRET", "is not set"),
        Some(s) if constant_time_eq(s.as_bytes(), DEV_MEDIA_CAPABILITY_SECRET.as_bytes()) => {
            refuse(
                "MEDIA_CAPABILITY_SECRET",
                "holds the development value from wrangler.toml",
            )
        }
        Some(s) if s.len() < MIN_SECRET_BYTES => {
            refuse("MEDIA_CAPABILITY_SECRET", "is shorter than 32 bytes")
        }
        Some(_) => None,
    }
}

/// The key a `CREDENTIALS_KEY`-like value holds, or why production must not use it.
fn key_problem(value: Option<&str>) -> Result<[u8; 32], &'static str> {
    match value {
        None => Err("is not set"),
        Some(k) if constant_time_eq(k.trim().as_bytes(), DEV_CREDENTIALS_KEY.as_bytes()) => {
            Err("holds the development value from wrangler.toml")
        }
        Some(k) => crate::seal::parse_key(Some(k)).ok_or("is not 32 bytes of hex (64 characters)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const GOOD_SECRET: &str = "a-production-secret-of-32-bytes!";
    const OTHER_KEY: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    fn key(current: Option<&str>) -> Keys<'_> {
        Keys {
            current,
            previous: None,
        }
    }

    #[test]
    fn the_development_values_are_the_ones_wrangler_toml_ships() {
        let toml = include_str!("../wrangler.toml");
        for (name, value) in [
            ("CREDENTIALS_KEY", DEV_CREDENTIALS_KEY),
            ("MEDIA_CAPABILITY_SECRET", DEV_MEDIA_CAPABILITY_SECRET),
        ] {
            assert!(
                toml.lines()
                    .any(|l| l.trim() == format!("{name} = \"{value}\"")),
                "wrangler.toml no longer sets {name} to the value this module refuses"
            );
        }
    }

    #[test]
    fn production_refuses_development_missing_and_short_secrets() {
        let prod = Some("production");
        assert!(refusal(
            Some(" Production "),
            key(Some(DEV_CREDENTIALS_KEY)),
            Some(GOOD_SECRET)
        )
        .is_some());
        let short = &GOOD_SECRET[..31];
        let cases: &[(Option<&str>, Option<&str>, Option<&str>)] = &[
            (prod, Some(DEV_CREDENTIALS_KEY), Some(GOOD_SECRET)),
            (prod, None, Some(GOOD_SECRET)),
            (prod, Some(&GOOD_KEY[..62]), Some(GOOD_SECRET)),
            (prod, Some("not hex at all"), Some(GOOD_SECRET)),
            (prod, Some(GOOD_KEY), Some(DEV_MEDIA_CAPABILITY_SECRET)),
            (prod, Some(GOOD_KEY), None),
            (prod, Some(GOOD_KEY), Some(short)),
            (prod, Some(GOOD_KEY), Some("")),
        ];
        for (i, &(env, key, secret)) in cases.iter().enumerate() {
            let why =
                refusal(env, self::key(key), secret).unwrap_or_else(|| panic!("case {i} served"));
            let named = if i < 4 {
                "CREDENTIALS_KEY"
            } else {
                "MEDIA_CAPABILITY_SECRET"
            };
            assert!(why.contains(named), "case {i}: {why}");
            // The log line names the variable, never its value.
            for v in [key, secret].into_iter().flatten().filter(|v| v.len() > 8) {
                assert!(!why.contains(v), "case {i} logs a secret: {why}");
            }
        }
    }

    #[test]
    fn production_with_real_secrets_and_other_environments_serve() {
        assert_eq!(
            refusal(Some("production"), key(Some(GOOD_KEY)), Some(GOOD_SECRET)),
            None
        );
        assert_eq!(
            refusal(
                Some("production"),
                key(Some(&format!(" {GOOD_KEY}\n"))),
                Some(&"s".repeat(32))
            ),
            None
        );
        for env in [None, Some("development"), Some("test"), Some("prod")] {
            assert_eq!(
                refusal(
                    env,
                    Keys {
                        current: Some(DEV_CREDENTIALS_KEY),
                        previous: Some(DEV_CREDENTIALS_KEY)
                    },
                    Some("short")
                ),
                None,
                "{env:?}"
            );
        }
    }

    #[test]
    fn the_previous_key_is_held_to_the_same_rules_and_must_differ() {
        let prod = Some("production");
        let with = |previous: &'static str| Keys {
            current: Some(GOOD_KEY),
            previous: Some(previous),
        };
        let refused: &[(&str, &str)] = &[
            (DEV_CREDENTIALS_KEY, "development value"),
            (&GOOD_KEY[..62], "64 characters"),
            ("not hex at all", "64 characters"),
            (GOOD_KEY, "same key"),
            // Spelled otherwise, still the same key.
            (
                "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF",
                "same key",
            ),
        ];
        for (previous, why) in refused {
            let said = refusal(prod, with(previous), Some(GOOD_SECRET))
                .unwrap_or_else(|| panic!("{previous} served"));
            assert!(said.contains("CREDENTIALS_KEY_PREVIOUS"), "{said}");
            assert!(said.contains(why), "{said}");
            assert!(!said.contains(previous), "logs a secret: {said}");
        }
        for fine in [OTHER_KEY, "", "  "] {
            assert_eq!(
                refusal(prod, with(fine), Some(GOOD_SECRET)),
                None,
                "{fine:?}"
            );
        }
        // The current key's problems come first.
        let both_bad = Keys {
            current: Some(DEV_CREDENTIALS_KEY),
            previous: Some("short"),
        };
        let said = refusal(prod, both_bad, Some(GOOD_SECRET)).unwrap();
        assert!(said.starts_with("deployment: CREDENTIALS_KEY "), "{said}");
    }
}
