//! Pure rules of the product: identifiers, roles, names, slugs, time zones and timestamps,
//! and the rules of publishing (`publish`).
//!
//! Nothing here imports `worker`, so `cargo test` exercises all of it natively.

pub mod capability;
pub mod cookie;
pub mod etag;
pub mod ids;
pub mod media;
pub mod percent;
pub mod platform;
pub mod post_state;
pub mod publish;
pub mod roles;
pub mod sigv4;
pub mod slug;
pub mod text;
pub mod time;
pub mod timezone;
pub mod url_guard;
pub mod webhooks;

/// Why a raw value was refused, worded for the `problem` of a field error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainError(pub &'static str);

impl DomainError {
    pub const fn new(problem: &'static str) -> Self {
        DomainError(problem)
    }
}

impl std::fmt::Display for DomainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
