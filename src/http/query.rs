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
//! `invalid_query` `ApiError`, with the message `query_config` gives `web::Query`'s errors.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
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
        let parsed = web::Query::<T>::from_query(request.query_string())
            .map(web::Query::into_inner)
            .map_err(|error| super::plumbing::invalid_query(&error));
        ready(Ok(Self(parsed)))
    }
}
