//! The events a webhook endpoint can receive, and the body every delivery carries:
//! `{"type": "post.published", "timestamp": "<RFC 3339>", "data": {…}}`.

use serde_json::value::RawValue;

use crate::domain::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    PostPublished,
    PostPartiallyPublished,
    PostFailed,
    SocialAccountNeedsReauth,
    /// Sent on demand (`POST /webhooks/{id}/test`) to that one endpoint, whatever it subscribes.
    WebhookTest,
}

/// Most event types an endpoint may list (every subscribable one, once).
pub const MAX_SUBSCRIPTIONS: usize = EventType::SUBSCRIBABLE.len();

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::PostPublished,
        EventType::PostPartiallyPublished,
        EventType::PostFailed,
        EventType::SocialAccountNeedsReauth,
        EventType::WebhookTest,
    ];

    /// What an endpoint may subscribe to: every event the product emits on its own.
    pub const SUBSCRIBABLE: [EventType; 4] = [
        EventType::PostPublished,
        EventType::PostPartiallyPublished,
        EventType::PostFailed,
        EventType::SocialAccountNeedsReauth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PostPublished => "post.published",
            EventType::PostPartiallyPublished => "post.partially_published",
            EventType::PostFailed => "post.failed",
            EventType::SocialAccountNeedsReauth => "social_account.needs_reauth",
            EventType::WebhookTest => "webhook.test",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        EventType::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or(DomainError::new("is not an event type"))
    }

    /// An event type an endpoint may list in `events`.
    pub fn parse_subscribable(s: &str) -> Result<Self, DomainError> {
        match EventType::parse(s) {
            Ok(EventType::WebhookTest) => Err(DomainError::new(
                "webhook.test is sent on demand to any endpoint; it is not subscribed to",
            )),
            Ok(e) => Ok(e),
            Err(_) => Err(DomainError::new(
                "must be one of post.published, post.partially_published, post.failed, social_account.needs_reauth",
            )),
        }
    }
}

/// An endpoint's subscriptions: at least one event type, each once, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriptions(Vec<EventType>);

impl Subscriptions {
    pub fn new(events: Vec<EventType>) -> Result<Self, DomainError> {
        if events.is_empty() {
            return Err(DomainError::new("must list at least one event type"));
        }
        // In the canonical order, each once (no sort needed for a set this small).
        let all = EventType::ALL.into_iter().filter(|e| events.contains(e));
        Ok(Subscriptions(all.collect()))
    }

    pub fn contains(&self, e: EventType) -> bool {
        self.0.contains(&e)
    }

    /// The JSON array stored in `webhook_endpoints.events` and shown by the API.
    pub fn to_json(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|e| e.as_str()).collect();
        serde_json::to_string(&names).unwrap_or_else(|_| "[]".into())
    }
}

/// The body of a delivery. `data` is JSON that the outbox already holds (the post with each
/// target's result), passed through as it is; `None` if it is not JSON (an outbox row this code
/// cannot read is not delivered half-formed).
pub fn payload(event: EventType, timestamp: &str, data: &str) -> Option<String> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        timestamp: &'a str,
        data: &'a RawValue,
    }
    let data: &RawValue = serde_json::from_str(data).ok()?;
    serde_json::to_string(&Body {
        kind: event.as_str(),
        timestamp,
        data,
    })
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn event_types_round_trip_by_their_wire_names() {
        let names: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "post.published",
                "post.partially_published",
                "post.failed",
                "social_account.needs_reauth",
                "webhook.test"
            ]
        );
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Ok(e));
        }
        for bad in ["", "post", "POST.PUBLISHED", "post.published ", "*"] {
            assert!(EventType::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_product_events_are_subscribable() {
        for e in EventType::SUBSCRIBABLE {
            assert_eq!(EventType::parse_subscribable(e.as_str()), Ok(e));
        }
        assert!(EventType::parse_subscribable("webhook.test").is_err());
        assert!(EventType::parse_subscribable("post.deleted").is_err());
    }

    #[test]
    fn subscriptions_are_non_empty_sets() {
        assert!(Subscriptions::new(vec![]).is_err());
        let s = Subscriptions::new(vec![
            EventType::PostFailed,
            EventType::PostPublished,
            EventType::PostFailed,
        ])
        .unwrap();
        assert_eq!(s.to_json(), r#"["post.published","post.failed"]"#);
        assert!(s.contains(EventType::PostFailed));
        assert!(!s.contains(EventType::SocialAccountNeedsReauth));
    }

    #[test]
    fn payloads_carry_type_timestamp_and_the_data_as_stored() {
        let body = payload(
            EventType::PostPublished,
            "2026-01-31T09:30:00.000Z",
            r#"{"id":"post_1","targets":[{"status":"PUBLISHED","url":"https://bsky.app/x"}]}"#,
        )
        .unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["type"], "post.published");
        assert_eq!(v["timestamp"], "2026-01-31T09:30:00.000Z");
        assert_eq!(v["data"]["targets"][0]["url"], "https://bsky.app/x");
        assert_eq!(v.as_object().unwrap().len(), 3);
        // Data that is not JSON is never delivered.
        assert_eq!(payload(EventType::PostFailed, "t", "{not json"), None);
        assert_eq!(payload(EventType::PostFailed, "t", ""), None);
    }
}
