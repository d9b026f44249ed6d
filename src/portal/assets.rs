//! `GET /portal/assets/portal.css`: the portal's one stylesheet, compiled into the binary and
//! served by Tally itself (no CDN). Pages link it as `portal.css?v=<content hash>`, so it can
//! be cached for a year and still change with a release.
//!
//! Stage: the HTTP edge (portal). No IO.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::HttpResponse;
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("assets/portal.css");

static CSS_URL: LazyLock<String> = LazyLock::new(|| {
    let version = hex::encode(&Sha256::digest(CSS.as_bytes())[..6]);
    format!("/portal/assets/portal.css?v={version}")
});

/// The stylesheet's versioned address.
pub(crate) fn css_url() -> &'static str {
    CSS_URL.as_str()
}

/// The stylesheet, cacheable for a year.
pub async fn get_portal_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(CSS)
}
