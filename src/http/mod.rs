//! HTTP plumbing shared by every route module (`api`, `ingest`, `auth`'s extractors): the one
//! error type and its JSON shape, bounded JSON bodies that refuse repeated keys, `Idempotency-Key` replay (the
//! `Idempotent` extractor), the `x-request-id` every answer echoes, the access log, and actix's own errors (404, 405, bad query or path) answered in
//! that shape.
//!
//! Stage: the HTTP edge. Inputs are actix requests and module errors; outputs are
//! `HttpResponse`s. Uses `store` (idempotency records, `DbError` → 503) and converts `invoice`
//! errors into `ApiError`. Must not import `auth`, `api`, `ingest` or `portal` (they build on
//! it), and holds no route handlers and no business rules.

mod access_log;
mod error;
mod idempotency;
mod json;
mod plumbing;
mod query;
mod request_id;
mod strict_json;

pub use access_log::{access_level, log_access};
pub use error::{error_body, error_chain_fmt, ApiError};
pub use idempotency::{actor, IdempotencyScope, Idempotent, JsonReply};
pub use json::{duplicate_key, exact_json_number, exact_json_number_text, parse_json, JsonBody};
pub use plumbing::{
    delete, get, get_without_head, patch, path_config, post, put, query_config, resource, AllowingResource, MethodRoute,
};
pub use query::DeferredQuery;
pub use request_id::{assign_request_id, RequestId, REQUEST_ID_HEADER};
pub use strict_json::{from_slice as strict_from_slice, from_str as strict_from_str, StrictJsonError};
