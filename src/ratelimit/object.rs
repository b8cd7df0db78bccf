//! The `RateLimiter` Durable Object: one per bucket, holding the bucket's counters for every
//! isolate and location, and writing them to its storage so they survive its eviction.

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, Request, Response, State};

use super::rules::{reserve, Counters, Limits};
use crate::timing::now_ms;

const STORAGE_KEY: &str = "c";

#[durable_object]
pub struct RateLimiter {
    state: State,
    counters: RefCell<Option<Counters>>,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        RateLimiter {
            state,
            counters: RefCell::new(None),
        }
    }

    /// `GET /?burst=<q>&sustained=<q>` reserves a batch of requests and answers the
    /// `Reservation`.
    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        let url = req.url()?;
        let mut q = (None, None);
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "burst" => q.0 = Some(v.into_owned()),
                "sustained" => q.1 = Some(v.into_owned()),
                _ => {}
            }
        }
        let limits = Limits::from_vars(q.0.as_deref(), q.1.as_deref());
        if self.counters.borrow().is_none() {
            let stored: Option<Counters> = self.state.storage().get(STORAGE_KEY).await?;
            let mut slot = self.counters.borrow_mut();
            if slot.is_none() {
                *slot = Some(stored.unwrap_or_default());
            }
        }
        let now = now_ms() as i64;
        let (reservation, counters, new_window) = {
            let mut slot = self.counters.borrow_mut();
            let c = slot.get_or_insert_with(Counters::default);
            let before = c.sustained_start;
            let r = reserve(c, limits, now);
            (r, c.clone(), before != c.sustained_start)
        };
        // Written whenever the counters change (a reservation, or a window that rolled
        // over), so an evicted object picks up where it was.
        if reservation.granted > 0 || new_window {
            let storage = self.state.storage();
            storage.put(STORAGE_KEY, &counters).await?;
            if new_window {
                // Forget the bucket once its sustained window is over and nothing came.
                let end =
                    counters.sustained_start + i64::from(super::rules::SUSTAINED_WINDOW_S) * 1000;
                storage.set_alarm(end + 1000).await?;
            }
        }
        Response::from_json(&reservation)
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let now = now_ms() as i64;
        let len = i64::from(super::rules::SUSTAINED_WINDOW_S) * 1000;
        let stale = self
            .counters
            .borrow()
            .as_ref()
            .is_none_or(|c| now - c.sustained_start >= len);
        if stale {
            self.counters.borrow_mut().take();
            self.state.storage().delete_all().await?;
        }
        Response::ok("")
    }
}
