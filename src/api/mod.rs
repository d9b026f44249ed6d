//! Admin and tenant REST routes (tenants, usage), and the HTTP plumbing they share:
//! idempotency, JSON parsing, and our error shape for actix's own extractor errors.

mod idempotency;
mod json;
mod plumbing;
mod tenant_wire;
mod tenants;
mod usage;

pub use idempotency::{run_idempotent, JsonReply};
pub use json::parse_json;
pub use plumbing::{not_found, path_config, query_config, resource};
pub use tenants::{create_tenant, get_tenant, list_tenants, update_tenant};
pub use usage::get_usage;
