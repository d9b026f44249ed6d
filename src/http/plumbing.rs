//! Makes actix's own errors (unknown route, wrong method, bad query or path) answer in the
//! one error shape, and every `GET` route answer `HEAD` too (HTTP: a server that supports GET
//! supports HEAD; actix sends a HEAD answer's status and headers without its body) — except
//! a GET that changes something ([`get_without_head`]).
//!
//! Stage: the HTTP edge (wiring helpers for `startup`'s route table). Knows no route.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::Method;
use actix_web::{guard, web, FromRequest, Handler, HttpResponse, Responder};

use super::ApiError;

/// A resource being declared: its actix resource and the methods its routes serve, so that an
/// unserved method answers 405 in our shape with the `Allow` header HTTP requires.
pub struct AllowingResource {
    inner: actix_web::Resource,
    allow: Vec<Method>,
}

/// A route for one method (two for [`get`]: GET and HEAD), as `web::get()` etc. but
/// remembering its methods for `Allow`.
pub struct MethodRoute {
    methods: Vec<Method>,
    route: actix_web::Route,
}

/// A resource whose unmatched methods answer 405 in our shape, with `Allow`.
pub fn resource(path: &str) -> AllowingResource {
    AllowingResource { inner: web::resource(path), allow: Vec::new() }
}

impl AllowingResource {
    /// Adds a route (see [`get`], [`post`], [`put`], [`patch`], [`delete`]).
    #[must_use]
    pub fn route(mut self, route: MethodRoute) -> Self {
        self.allow.extend(route.methods);
        self.inner = self.inner.route(route.route);
        self
    }
}

impl HttpServiceFactory for AllowingResource {
    fn register(self, config: &mut AppService) {
        let mut allow: Vec<&str> = self.allow.iter().map(Method::as_str).collect();
        allow.sort_unstable();
        let allow = allow.join(", ");
        let refuse = move || {
            let allow = allow.clone();
            async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) }
        };
        self.inner.default_service(web::to(refuse)).register(config);
    }
}

impl MethodRoute {
    fn new(method: Method) -> Self {
        Self { route: web::method(method.clone()), methods: vec![method] }
    }

    /// Sets the handler, as `actix_web::Route::to`.
    #[must_use]
    pub fn to<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route = self.route.to(handler);
        self
    }
}

/// A `GET` route, which answers `HEAD` as well: the same handler, so the same status,
/// headers and auth; actix drops the body.
pub fn get() -> MethodRoute {
    let route = web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
    MethodRoute { methods: vec![Method::GET, Method::HEAD], route }
}

/// A `GET` route that does not answer `HEAD` (405): for a GET that changes something, such
/// as opening a single-use sign-in link. Mail scanners and link previews send `HEAD` to the
/// links in an email; served, it would use the link up before its owner clicks it.
pub fn get_without_head() -> MethodRoute {
    MethodRoute::new(Method::GET)
}

/// A `POST` route.
pub fn post() -> MethodRoute {
    MethodRoute::new(Method::POST)
}

/// A `PUT` route.
pub fn put() -> MethodRoute {
    MethodRoute::new(Method::PUT)
}

/// A `PATCH` route.
pub fn patch() -> MethodRoute {
    MethodRoute::new(Method::PATCH)
}

/// A `DELETE` route.
pub fn delete() -> MethodRoute {
    MethodRoute::new(Method::DELETE)
}

/// Query string errors → 400 `invalid_query`.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _| invalid_query(&error).into())
}

/// The 400 a query string that does not parse answers, wherever it is read.
pub(super) fn invalid_query(error: &actix_web::error::QueryPayloadError) -> ApiError {
    ApiError::bad_request("invalid_query", error.to_string())
}

/// Path parameter errors → 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| ApiError::NotFound("resource").into())
}
