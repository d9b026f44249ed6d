//! Authentication and authorization core: who is calling ([`Principal`]) and how they proved
//! it (an API key or a JWT).
//!
//! Stage: auth, at the edge of every route. Pure: no database and no HTTP. The store holds
//! [`ApiKey`] records and the HTTP extractors call into this module; neither lives here.

mod api_key;
mod jwt;
mod jwt_key;
mod role;

pub use api_key::{ApiKey, ApiKeyError, ApiKeyId, GeneratedApiKey, PresentedApiKey};
pub use jwt::{JwtError, JwtKeys};
pub use jwt_key::{generate_hs256_secret, JwtAlgorithm, JwtKeyConfig, JwtKeyError};
pub use role::{Principal, Role, RoleError};
