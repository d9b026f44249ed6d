//! Tally: usage metering and billing for serverless platforms.
//!
//! The module tree follows the data: `ingest` → `store` → `aggregate` → `rate` → `invoice` →
//! `notify`, with `auth`, `api` and `portal` at the edges.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod clock;
pub mod domain;
pub mod error;
pub mod rate;
