//! `tally demo`: the whole product in a minute, on the embedded default. A few tenants on the
//! shipped plans, a realistic month of serverless usage sent through the real ingestion API,
//! the month closed into invoices, the emails delivered (`.eml` files without SMTP), and where
//! to look next.
//!
//! Stage: wiring, beside `cli`. `profiles` and `workload` are pure (who the tenants are, what
//! they use); `run` drives an in-process server through its HTTP API with a clock it walks
//! from last month to now.

mod profiles;
mod run;
mod workload;

pub use run::{run_demo, DemoOptions, DemoReport};
