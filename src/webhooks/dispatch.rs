//! From the outbox to deliveries: for each undispatched event (oldest first), one delivery per
//! enabled endpoint of its workspace that subscribes to its type, then the event is marked
//! dispatched — all in one D1 batch, conditional on the event still being undispatched, so
//! concurrent dispatchers (the publisher's call and cron) create each delivery once.

use worker::Env;

use super::{announce, background_db, log_error, now, Announcement};
use crate::domain::ids::{DeliveryId, WorkspaceId};
use crate::domain::webhooks::events::{payload, EventType};
use crate::http::error::ApiError;
use crate::scope::background;
use crate::store::webhook_outbox::{self as outbox, Fanout, OutboxEvent, Subscriber};

/// Events read per round.
const BATCH: i64 = 50;
/// Rounds per call: a backlog beyond `BATCH × ROUNDS` waits for the next call.
const ROUNDS: usize = 4;

/// Dispatches pending outbox events and announces their deliveries on the webhook Queue.
/// Returns how many deliveries it created. Cheap when there is nothing to do (one indexed
/// read); safe to run concurrently and again; never fails outward (failures are logged, and the
/// next call or the cron sweep picks up what was left).
pub async fn dispatch_events(env: &Env) -> usize {
    let mut created = 0;
    for _ in 0..ROUNDS {
        match round(env).await {
            Ok((n, full)) => {
                created += n;
                if !full {
                    break;
                }
            }
            Err(e) => {
                log_error("webhook dispatch", &e);
                break;
            }
        }
    }
    created
}

/// One batch of events: (deliveries created, whether the batch was full).
async fn round(env: &Env) -> Result<(usize, bool), ApiError> {
    let db = background_db(env)?;
    let bg = background();
    let events = outbox::undispatched(&db, &bg, BATCH).await?;
    if events.is_empty() {
        return Ok((0, false));
    }
    let full = events.len() as i64 == BATCH;
    let mut workspaces: Vec<&str> = Vec::new();
    for e in &events {
        if !workspaces.contains(&e.workspace_id.as_str()) {
            workspaces.push(&e.workspace_id);
        }
    }
    let subscribers = outbox::subscribers(&db, &bg, &workspaces).await?;
    let fanouts: Vec<Fanout<'_>> = events.iter().map(|e| fan_out(e, &subscribers)).collect();
    for f in fanouts.iter().filter(|f| f.payload.is_none()) {
        worker::console_error!(
            "{}",
            serde_json::json!({ "level": "warn", "step": "webhook dispatch", "cause": "outbox event not deliverable, marked dispatched", "eventId": f.event.id, "type": f.event.kind })
        );
    }
    let now = now();
    let ids = outbox::commit(&db, &bg, &fanouts, &now.to_rfc3339()).await?;
    let due: Vec<(Announcement, i64)> = ids
        .into_iter()
        .map(|id| (Announcement { id, seq: 0 }, now.millis()))
        .collect();
    let n = due.len();
    announce(env, &due).await?;
    Ok((n, full))
}

/// The deliveries of one event: fresh ids, one per subscribed endpoint of its workspace. An
/// event of a type this code does not know, or whose data is not JSON, gets none (and is still
/// marked dispatched, with a log line, rather than blocking the outbox).
fn fan_out<'a>(event: &'a OutboxEvent, subscribers: &[Subscriber]) -> Fanout<'a> {
    let kind = EventType::parse(&event.kind).ok();
    let body = kind.and_then(|k| payload(k, &event.created_at, &event.data));
    let workspace = WorkspaceId::parse(&event.workspace_id).ok();
    let (Some(kind), Some(body), Some(workspace)) = (kind, body, workspace) else {
        return Fanout {
            event,
            deliveries: Vec::new(),
            payload: None,
        };
    };
    Fanout {
        event,
        deliveries: subscribed(subscribers, &event.workspace_id, kind)
            .into_iter()
            .map(|endpoint| {
                (
                    DeliveryId::generate_in(&workspace).as_str().to_owned(),
                    endpoint.to_owned(),
                )
            })
            .collect(),
        payload: Some(body),
    }
}

/// The endpoints of `workspace` whose `events` list `kind` (each endpoint is one row).
fn subscribed<'s>(subscribers: &'s [Subscriber], workspace: &str, kind: EventType) -> Vec<&'s str> {
    subscribers
        .iter()
        .filter(|s| s.workspace_id == workspace)
        .filter(|s| {
            serde_json::from_str::<Vec<&str>>(&s.events)
                .is_ok_and(|events| events.contains(&kind.as_str()))
        })
        .map(|s| s.id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: &str, ws: &str, events: &str) -> Subscriber {
        Subscriber {
            id: id.into(),
            workspace_id: ws.into(),
            events: events.into(),
        }
    }

    #[test]
    fn endpoints_get_the_events_they_subscribe_to_in_their_workspace_only() {
        let subs = [
            sub("wh_a", "ws_1", r#"["post.published","post.failed"]"#),
            sub("wh_b", "ws_1", r#"["post.failed"]"#),
            sub("wh_c", "ws_2", r#"["post.published"]"#),
            sub("wh_d", "ws_1", "not json"),
        ];
        assert_eq!(
            subscribed(&subs, "ws_1", EventType::PostPublished),
            ["wh_a"]
        );
        assert_eq!(
            subscribed(&subs, "ws_1", EventType::PostFailed),
            ["wh_a", "wh_b"]
        );
        assert!(subscribed(&subs, "ws_1", EventType::SocialAccountNeedsReauth).is_empty());
        assert_eq!(
            subscribed(&subs, "ws_2", EventType::PostPublished),
            ["wh_c"]
        );
        assert!(subscribed(&subs, "ws_3", EventType::PostPublished).is_empty());
    }

    #[test]
    fn undeliverable_events_fan_out_to_nobody() {
        let ws = WorkspaceId::generate();
        let subs = [sub("wh_a", ws.as_str(), r#"["post.published"]"#)];
        let event = |kind: &str, data: &str| OutboxEvent {
            id: "evt_1".into(),
            workspace_id: ws.as_str().into(),
            kind: kind.into(),
            data: data.into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        let good = event("post.published", r#"{"id":"post_1"}"#);
        let f = fan_out(&good, &subs);
        assert_eq!(f.deliveries.len(), 1);
        assert_eq!(f.deliveries[0].1, "wh_a");
        let id = DeliveryId::parse(&f.deliveries[0].0).unwrap();
        assert_eq!(id.workspace(), ws);
        assert!(f.payload.unwrap().contains(r#""type":"post.published""#));
        for (kind, data) in [("post.unknown", "{}"), ("post.published", "{oops")] {
            let bad = event(kind, data);
            let f = fan_out(&bad, &subs);
            assert!(
                f.deliveries.is_empty() && f.payload.is_none(),
                "{kind} {data}"
            );
        }
    }
}
