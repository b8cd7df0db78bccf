//! One delivery attempt over HTTP: signed, through the outbound guard (checked again at every
//! attempt: the URL is the customer's), no redirect followed, 10 seconds for the whole exchange,
//! the first 1 KB of the answer kept.

use std::time::Duration;

use crate::ctx::now_ms;
use crate::domain::webhooks::schedule::{
    excerpt, Answer, ATTEMPT_TIMEOUT_MS, RESPONSE_EXCERPT_BYTES,
};
use crate::domain::webhooks::signing::{signature_header, SigningKey};
use crate::net::outbound::{OutRequest, Outbound, OutboundError, Redirects};

pub const USER_AGENT: &str = "PostBridge-Webhooks/1";

/// What an attempt gave, for the attempt log and the schedule.
pub struct Sent {
    pub answer: Answer,
    pub duration_ms: i64,
    pub response_body: Option<String>,
    /// Why there was no usable answer, worded for the customer (never internal detail).
    pub error: Option<String>,
}

impl Sent {
    pub fn status(&self) -> Option<u16> {
        match self.answer {
            Answer::Status(s) => Some(s),
            Answer::NoAnswer | Answer::Refused => None,
        }
    }
}

/// Sends `payload` to `url` as delivery `id`, signed with every key in `keys`.
pub async fn send(
    outbound: &Outbound,
    url: &str,
    id: &str,
    keys: &[SigningKey],
    payload: &str,
) -> Sent {
    let started = now_ms();
    let elapsed = || (now_ms() - started).round() as i64;
    let safe = match outbound.guard(url) {
        Ok(u) => u,
        Err(refusal) => {
            return Sent {
                answer: Answer::Refused,
                duration_ms: 0,
                response_body: None,
                error: Some(format!("URL not allowed: {}", refusal.problem())),
            }
        }
    };
    let timestamp = (started / 1000.0).floor() as i64;
    let signature = signature_header(keys, id, timestamp, payload.as_bytes());
    let request = OutRequest::post(safe, "application/json", payload.as_bytes().to_vec())
        .header("webhook-id", id)
        .header("webhook-timestamp", &timestamp.to_string())
        .header("webhook-signature", &signature)
        .header("User-Agent", USER_AGENT);
    let timeout = Duration::from_millis(ATTEMPT_TIMEOUT_MS);
    match outbound.send(request, Redirects::None, timeout).await {
        Ok(mut answer) => {
            let status = answer.status();
            let text = answer.text_prefix(RESPONSE_EXCERPT_BYTES).await;
            Sent {
                answer: Answer::Status(status),
                duration_ms: elapsed(),
                response_body: Some(excerpt(&text).to_owned()),
                error: None,
            }
        }
        Err(e) => Sent {
            answer: match e {
                OutboundError::Refused(_) => Answer::Refused,
                _ => Answer::NoAnswer,
            },
            duration_ms: elapsed(),
            response_body: None,
            error: Some(e.problem()),
        },
    }
}
