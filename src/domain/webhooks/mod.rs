//! Webhooks, as pure rules: which events exist and what a delivery's body is (`events`), how a
//! delivery is signed by the Standard Webhooks spec (`signing`), and when an attempt is retried,
//! given up or the endpoint disabled (`schedule`).

pub mod events;
pub mod schedule;
pub mod signing;
