//! JSON request bodies, read and parsed by hand so every error has our shape and codes.
//!
//! Stage: the HTTP edge. Input: the request payload; output: bytes or a typed value, or an
//! `ApiError`. Knows no route.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::{ApiError, StrictJsonError};

/// Largest admin/tenant request body (ingest bodies have their own, configurable limits).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A request body of at most 1 MiB; larger ones answer 413 in the error shape (actix's own
/// `Bytes` extractor would answer in plain text).
pub struct JsonBody(pub Bytes);

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(_: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let mut payload = payload.take();
        Box::pin(async move {
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|e| ApiError::bad_request("invalid_body", format!("could not read the body: {e}")))?;
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "request body is larger than {MAX_BODY_BYTES} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(JsonBody(body.freeze()))
        })
    }
}

/// Parses a JSON body: 400 `malformed_json` for syntax, 400 `duplicate_json_key` when an
/// object repeats a key (anywhere in the body), 422 `invalid_body` for the wrong shape
/// (unknown fields included).
///
/// # Errors
/// As above.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    super::strict_from_slice(body).map_err(|(path, e)| match e {
        StrictJsonError::DuplicateKey { error, .. } => duplicate_key(&error),
        StrictJsonError::Json(e) => match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request("malformed_json", format!("body is not valid JSON: {e}"))
            }
            // "quotas[1].limit: invalid type: …": the field, not only its line and column.
            Category::Data => match path.as_str() {
                "." | "" => ApiError::unprocessable("invalid_body", e.to_string()),
                _ => ApiError::unprocessable("invalid_body", format!("{path}: {e}")),
            },
        },
    })
}

/// 400 `duplicate_json_key`: a body whose meaning depends on which of two equal keys wins is
/// refused rather than guessed.
pub fn duplicate_key(error: &serde_json::Error) -> ApiError {
    ApiError::bad_request("duplicate_json_key", format!("{error}; each key may appear once per object"))
}

/// The exact value of a JSON number, however it is spelled (`5`, `5.0`, `5e0`); `None` when it
/// is beyond what `Decimal` holds. JSON (and JSON Schema) make no difference between those
/// spellings, so neither do we; the text arrives intact (`arbitrary_precision`), never as f64.
pub fn exact_json_number(number: &serde_json::Number) -> Option<rust_decimal::Decimal> {
    exact_json_number_text(number.as_str())
}

/// [`exact_json_number`] of a number's JSON text (as a `RawValue` holds it).
pub fn exact_json_number_text(text: &str) -> Option<rust_decimal::Decimal> {
    match text.contains(['e', 'E']) {
        true => rust_decimal::Decimal::from_scientific(text).ok(),
        false => text.parse().ok(),
    }
}
