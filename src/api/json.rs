//! JSON request bodies, parsed by hand so the errors have our shape and codes.

use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses a JSON body: 400 `malformed_json` for syntax, 422 `invalid_body` for the wrong
/// shape (unknown fields included).
///
/// # Errors
/// As above.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof | serde_json::error::Category::Io => {
            ApiError::bad_request("malformed_json", format!("body is not valid JSON: {e}"))
        }
        serde_json::error::Category::Data => ApiError::unprocessable("invalid_body", e.to_string()),
    })
}
