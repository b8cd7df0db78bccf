//! Rate limits: two fixed windows per bucket — a burst of `RATE_LIMIT_PER_MINUTE` (default 60)
//! per 60 s and a sustained `RATE_LIMIT_PER_15_MINUTES` (default 1000) per 900 s.
//!
//! Each bucket (all the API keys of a user, all the sessions of a user, or a client network for
//! credentials not yet resolved) is one Durable Object, `RateLimiter`, which holds the bucket's
//! counts for every isolate and location.
//! Calling it on every request would cost about as much as a D1 read, so an isolate *reserves*
//! requests in batches (a lease): the object counts the whole batch at once and the isolate
//! spends it locally. A batch is a sixteenth of what is left in the tighter window (at least 1,
//! at most `LEASE_MAX`), so near the limit every request asks the object again. The object
//! never lets more than the quota through in a window, whichever isolates ask; what an
//! isolate reserved and did not spend is lost when its window closes, so a client spread over
//! many isolates may be refused up to a sixteenth of its quota per isolate early. A refusal is
//! remembered by the isolate until the window that caused it resets: a flood of refused
//! requests costs no call at all.
//!
//! The rules (`reserve`, `Lease`, the headers) are pure and tested natively; the object and the
//! client (`check`) are thin. If the object cannot be reached the request goes through (fail
//! open) and the failure is logged: a limiter outage must not take the API down with it.
//!
//! `rules` holds the pure part, `object` the Durable Object, `client` the worker's side.

pub mod client;
pub mod object;
pub mod rules;

pub use client::{check, BINDING};
pub use object::RateLimiter;
pub use rules::*;
