//! The service's wiring: `Application::build` opens the store, builds every shared handle
//! once, starts the background workers and binds the one route table; `run_until_stopped()`
//! serves, then stops the workers and drains the write queue.
//!
//! - `application.rs`: [`Application`], what it builds and the order it stops things in;
//! - `routes.rs`: the one route table (api-spec/openapi.yaml lists exactly it) and the portal's pages;
//! - `from_settings.rs`: [`Settings`](crate::config::Settings) → each service's configuration
//!   (also for the CLI, tests and benches, so they bill and deliver as the server does);
//! - `workers.rs`: the background tasks, each started only when its interval is non-zero.
//!
//! Stage: wiring (top of the graph). Hands the handles to actix as `web::Data`. Holds no
//! business logic; nothing imports `startup` but `cli` and `demo`.

mod application;
mod from_settings;
mod routes;
mod workers;

pub use application::Application;
pub use from_settings::{billing_config, maintenance, public_url, quota_evaluator, OUTBOX_CLAIM_BATCH};
