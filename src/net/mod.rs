//! Requests the worker sends out: the one guarded fetch for every address a user gave.

pub mod outbound;
