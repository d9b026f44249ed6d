//! Authentication and authorization: who is calling ([`Principal`]) and how they proved it
//! (an API key or a JWT), plus the extractors that put this at the edge of every route.
//!
//! `role`, `api_key`, `jwt_key` and `jwt` are pure; `authenticator` asks the store for API
//! keys; `extractors` adapt it to actix.
//!
//! Stage: the edge. Inputs: bearer credentials, `config` (JWT key settings) and the store
//! (API keys). Outputs: [`Principal`]s, or `http::ApiError` from the extractors. Uses
//! `config`, `store`, `http` and `domain`; none of them may import `auth`.

mod api_key;
mod authenticator;
mod extractors;
mod jwt;
mod jwt_key;
mod role;

pub use api_key::{ApiKey, ApiKeyError, ApiKeyId, GeneratedApiKey, PresentedApiKey};
pub use authenticator::{issue_api_key, key_id_of, AuthError, Authenticator};
pub use extractors::{visible_tenant, AdminCaller, AnyCaller, Caller, GlobalAdmin, IngestCaller};
pub use jwt::{JwtError, JwtKeys};
pub use jwt_key::{generate_hs256_secret, JwtKeyError};
pub use role::{Principal, Role, RoleError};
