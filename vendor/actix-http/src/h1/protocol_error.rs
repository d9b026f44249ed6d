//! Tally's patch (see `vendor/README.md`): the answers the HTTP/1 dispatcher writes by itself —
//! a request head that cannot be parsed (400), one larger than the read buffer (431), one that
//! never arrived (408) — carry a JSON body in the service's error shape,
//! `{"error":{"code","message"}}`, with its `Content-Type`, instead of an empty body. The
//! service never sees these requests, so it cannot shape these answers itself.

use http::header::{HeaderValue, CONTENT_TYPE};

use bytes::Bytes;

use crate::{Response, StatusCode};

/// `res` with a JSON error body that names what was wrong with the request head.
pub(super) fn with_json_body(mut res: Response<()>) -> (Response<()>, Bytes) {
    // One arm per line: tests/api/api_spec.rs reads each code from the literal after `=> (`.
    let (code, message) = match res.status() {
        StatusCode::BAD_REQUEST => ("malformed_request", "the request head is not valid HTTP/1.1"),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request head did not arrive in time"),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ("request_header_fields_too_large", "the request head is larger than 128 KiB or has more than 96 header fields"),
        _ => ("internal_error", "an internal error occurred"),
    };
    let body = format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    (res, Bytes::from(body))
}
