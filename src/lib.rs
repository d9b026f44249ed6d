//! Tally: usage metering and billing for serverless platforms.
//!
//! The module tree follows the data: `ingest` → `store` → `aggregate` → `rate` → `invoice` →
//! `notify`, with `auth`, `api` and `portal` at the edges. `http` is the plumbing every route
//! module shares (error type, JSON, idempotency); `startup` and `cli` wire everything. No two
//! top-level modules import each other (`tests/api/architecture.rs` checks).
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod health;
pub mod http;
pub mod ingest;
pub mod invoice;
pub mod lifecycle;
pub mod metrics;
pub mod notify;
pub mod plans;
pub mod portal;
pub mod progress;
pub mod quota;
pub mod quote_table;
pub mod rate;
pub mod refresh_ahead;
pub mod startup;
pub mod store;
pub mod telemetry;
