//! Query strings read by the handler, after its caller is authenticated.
//!
//! actix polls a handler's extractors together and answers the first error it sees. A
//! `web::Query` fails at once, while authenticating an API key may wait on the store, so a
//! route taking both answered an anonymous, forged or wrong-role caller 400 `invalid_query`
//! (naming the route's parameters) instead of 401/403. [`DeferredQuery`] never fails as an
//! extractor: it keeps the parse result, and the handler reads it once its caller extractor
//! has succeeded.
//!
//! Stage: the HTTP edge. Input: the request's query string; output: a typed value or a 400
//! `invalid_query` `ApiError` naming the parameter.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::ApiError;

/// The query string parsed as `T`, or why it could not be; see the module docs.
pub struct DeferredQuery<T>(Result<T, ApiError>);

impl<T> DeferredQuery<T> {
    /// The parsed query.
    ///
    /// # Errors
    /// 400 `invalid_query` when the query string is not a `T`.
    pub fn parsed(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: DeserializeOwned> FromRequest for DeferredQuery<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(parse_query(request.query_string()))))
    }
}

/// `T` from a query string, as `web::Query` parses it, but a 400 that names the parameter:
/// "limit: invalid digit found in string", not "Query deserialize error: invalid digit found
/// in string" (which of the route's parameters?).
fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(pairs).map_err(|error| {
        let parameter = error.path().to_string();
        let problem = error.into_inner().to_string();
        // serde's "unknown field `foo`, expected …" names it already.
        let message = match parameter.as_str() {
            "" | "." => problem,
            _ if problem.starts_with("unknown field") => problem,
            _ => format!("{parameter}: {problem}"),
        };
        ApiError::bad_request("invalid_query", message)
    })
}
