//! HTTP plumbing: the route table, errors, JSON bodies, pagination and the finished response.

pub mod body;
pub mod boundary;
pub mod error;
pub mod incoming;
pub mod page;
pub mod respond;
pub mod router;
