//! A multi-tenant API for scheduling social-media posts, as a Cloudflare Worker.
//!
//! A request reads top to bottom: `Ctx` → route → authenticate (credential → principal) →
//! scope check (`scope::check` → `Authorized<…>`) → handler (`api`) → store (D1) → response.

pub mod api;
pub mod auth;
pub mod ctx;
pub mod domain;
pub mod http;
pub mod net;
pub mod openapi;
pub mod publish;
pub mod ratelimit;
pub mod scope;
pub mod seal;
pub mod store;
pub mod webhooks;

use worker::{event, Context, Env, MessageBatch, Response, ScheduleContext, ScheduledEvent};

use crate::ctx::Ctx;
use crate::http::incoming::Incoming;
use crate::http::respond::{self, finish};
use crate::http::router;

pub use crate::publish::scheduler::PublishScheduler;
pub use crate::ratelimit::RateLimiter;

#[event(fetch)]
async fn fetch(raw: web_sys::Request, env: Env, wait: Context) -> worker::Result<Response> {
    let mut incoming = Incoming::new(raw);
    let ctx = match Ctx::new(incoming.raw(), env, wait) {
        Ok(ctx) => ctx,
        Err(e) => return Ok(respond::early_failure(&format!("request context: {e:?}"))),
    };
    // Tests pin what a panic looks like from outside; this route exists only when the
    // deployment sets ENABLE_PANIC_ROUTE=1 (the black-box suite does, wrangler.toml does not).
    if ctx.path == "/api/v1/__test/panic" && ctx.var("ENABLE_PANIC_ROUTE").as_deref() == Some("1") {
        panic!("forced panic for the test suite");
    }
    let result = match router::resolve(&ctx.method, &ctx.path) {
        Ok(matched) => {
            ctx.log.borrow_mut().route = matched.template;
            api::dispatch(&ctx, &mut incoming, matched).await
        }
        Err(e) => Err(e),
    };
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

/// The cron trigger: each module's safety net (`publish::sweep`, `webhooks::on_cron`).
#[event(scheduled)]
async fn scheduled(_: ScheduledEvent, env: Env, _: ScheduleContext) {
    publish::sweep::run(&env).await;
    webhooks::on_cron(&env).await;
}
