//! A multi-tenant API for scheduling social-media posts, as a Cloudflare Worker.
//!
//! A request reads top to bottom: `Ctx` → route → authenticate (credential → principal) →
//! scope check (`scope::check` → `Authorized<…>`) → handler (`api`) → store (D1) → response.

pub mod api;
pub mod auth;
pub mod cleanup;
pub mod ctx;
pub mod deployment;
pub mod domain;
pub mod embedded;
pub mod http;
pub mod idempotency_sweep;
pub mod mcp;
pub mod net;
pub mod openapi;
pub mod publish;
pub mod ratelimit;
pub mod reseal_sweep;
pub mod scope;
pub mod seal;
pub mod store;
pub mod timing;
#[cfg(all(test, target_arch = "wasm32"))]
mod wasm_tests;
pub mod webhooks;

use worker::{event, Context, Env, MessageBatch, ScheduleContext, ScheduledEvent};

use crate::ctx::Ctx;
use crate::http::incoming::Incoming;
use crate::http::respond::{self, finish};
use crate::http::router;

pub use crate::publish::scheduler::PublishScheduler;
pub use crate::ratelimit::RateLimiter;

#[event(fetch)]
async fn fetch(
    raw: web_sys::Request,
    env: Env,
    wait: Context,
) -> worker::Result<web_sys::Response> {
    let mut incoming = Incoming::new(raw);
    let ctx = match Ctx::new(incoming.raw(), env, wait) {
        Ok(ctx) => ctx,
        Err(e) => return Ok(respond::early_failure(&format!("request context: {e:?}")).into()),
    };
    // In production, secrets still at their development values refuse every request.
    if let Err(e) = deployment::check(&ctx.env) {
        return Ok(finish(&ctx, Err(e)));
    }
    // Tests pin what a panic looks like from outside; this route exists only when the
    // deployment sets ENABLE_PANIC_ROUTE=1 (the black-box suite does, wrangler.toml does not).
    if ctx.path == "/api/v1/__test/panic" && ctx.var("ENABLE_PANIC_ROUTE").as_deref() == Some("1") {
        panic!("forced panic for the test suite");
    }
    let result = match mcp::endpoint(&ctx.path) {
        Some(endpoint) => mcp::serve(&ctx, &mut incoming, endpoint).await,
        None => match router::resolve(&ctx.method, &ctx.path) {
            Ok(matched) => {
                ctx.log.borrow_mut().route = matched.template;
                api::dispatch(&ctx, &mut incoming, matched).await
            }
            Err(e) => Err(e),
        },
    };
    if result.is_ok() {
        auth::usage::succeeded(&ctx);
    }
    Ok(finish(&ctx, result))
}

/// Every Queue this worker consumes delivers here; each batch goes to the module that owns its
/// queue: webhook deliveries (`webhooks::consumer`), else the publish queue and its dead-letter
/// queue (`publish::consumer`).
#[event(queue)]
async fn queue(batch: MessageBatch<serde_json::Value>, env: Env, _: Context) -> worker::Result<()> {
    if webhooks::consumer::consumes(&batch.queue()) {
        webhooks::consumer::consume(batch, &env).await;
        return Ok(());
    }
    publish::consumer::run(batch, env).await
}

/// The safety nets' cron expression (wrangler.toml `[triggers]`): every minute.
const EVERY_MINUTE_CRON: &str = "* * * * *";

/// The cron triggers (wrangler.toml `[triggers]`): every minute, the safety nets of publishing
/// and webhooks; every 5 minutes, the cleanup sweeps (any other expression runs those, so a test
/// may fire them with its own). Each sweep is one line, in its own module, and logs its own line.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    if event.cron() == EVERY_MINUTE_CRON {
        publish::sweep::run(&env).await;
        webhooks::on_cron(&env).await;
        return;
    }
    let at = crate::domain::time::Timestamp::from_millis(event.schedule() as i64);
    cleanup::sweep(&env, at).await;
    idempotency_sweep::sweep(&env).await;
    reseal_sweep::sweep(&env).await;
}
