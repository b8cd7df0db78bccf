//! The worker's side: charges a request to its bucket, from this isolate's lease when it can and
//! from the bucket's object otherwise.

use std::cell::RefCell;
use std::collections::HashMap;

use super::rules::{Bucket, Decision, Lease, Limits, Reservation};
use crate::ctx::Ctx;
use crate::http::error::ApiError;
use crate::timing::now_ms;

pub const BINDING: &str = "RATE_LIMITER";
/// More buckets than this in one isolate and the expired leases are dropped (all of them,
/// if that is not enough): losing a lease only means asking the object again.
const MAX_LEASES: usize = 10_000;

thread_local! {
    static LEASES: RefCell<HashMap<String, Lease>> = RefCell::new(HashMap::new());
    static BASE: std::cell::OnceCell<Limits> = const { std::cell::OnceCell::new() };
}

/// Charges the request to `bucket`, from this isolate's lease when it can and from the
/// bucket's object otherwise; records the decision for the response headers and the work in
/// `Server-Timing`; `Err(RateLimited)` when over a limit.
pub async fn check(ctx: &Ctx, bucket: Bucket<'_>) -> Result<(), ApiError> {
    let (name, limits) = bucket.name_and_limits(base_limits(ctx));
    let local = LEASES.with(|m| {
        m.borrow_mut()
            .get_mut(&name)
            .and_then(|l| l.spend(limits, now_ms() as i64))
    });
    let decision = match local {
        Some(d) => {
            ctx.timing.borrow_mut().rl_local += 1;
            d
        }
        None => {
            let started = now_ms();
            let out = ask(ctx, &name, limits).await;
            {
                let mut t = ctx.timing.borrow_mut();
                t.rl_calls += 1;
                t.rl_ms += now_ms() - started;
            }
            match out {
                Ok(r) => lease(&name, &r, limits),
                Err(e) => {
                    // Fail open: the limiter being unreachable must not refuse every request.
                    worker::console_error!(
                        "{}",
                        serde_json::json!({
                            "level": "error",
                            "requestId": ctx.request_id.as_str(),
                            "cause": format!("rate limiter: {e}"),
                        })
                    );
                    return Ok(());
                }
            }
        }
    };
    let retry = decision.retry_after_ms();
    *ctx.rate.borrow_mut() = Some((limits, decision));
    match retry {
        None => Ok(()),
        Some(ms) => Err(ApiError::RateLimited {
            retry_after_ms: ms.max(0) as u64,
        }),
    }
}

/// The key limits from the wrangler vars, read once per isolate (vars are fixed for a
/// deployment, and reading one crosses into JavaScript).
fn base_limits(ctx: &Ctx) -> Limits {
    BASE.with(|b| {
        *b.get_or_init(|| {
            Limits::from_vars(
                ctx.var("RATE_LIMIT_PER_MINUTE").as_deref(),
                ctx.var("RATE_LIMIT_PER_15_MINUTES").as_deref(),
            )
        })
    })
}

/// Keeps the object's answer as this isolate's lease for the bucket and spends this
/// request from it.
fn lease(name: &str, r: &Reservation, limits: Limits) -> Decision {
    let now = now_ms() as i64;
    LEASES.with(|m| {
        let mut m = m.borrow_mut();
        let mut lease = Lease::new(r, limits, now, m.get(name));
        // Spending fails only if the window closed while the answer was on its way.
        let decision = lease
            .spend(limits, now)
            .unwrap_or_else(|| r.decision.clone());
        if m.len() >= MAX_LEASES && !m.contains_key(name) {
            m.retain(|_, l| l.is_live(now));
            if m.len() >= MAX_LEASES {
                m.clear();
            }
        }
        m.insert(name.to_owned(), lease);
        decision
    })
}

async fn ask(ctx: &Ctx, name: &str, limits: Limits) -> worker::Result<Reservation> {
    let ns = ctx.env.durable_object(BINDING)?;
    let stub = ns.id_from_name(name)?.get_stub()?;
    let mut res = stub
        .fetch_with_str(&format!(
            "https://rate-limiter/?burst={}&sustained={}",
            limits.burst, limits.sustained
        ))
        .await?;
    if res.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "status {}",
            res.status_code()
        )));
    }
    res.json::<Reservation>().await
}
