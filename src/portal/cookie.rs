//! The portal's two cookies, read from and written as plain headers (actix's cookie feature
//! is off in this build): `tally_session` (`<tenant>.<secret>`, 8 h, `SameSite=Lax` so the
//! link from the sign-in email lands signed in) and `tally_login_csrf` (the anonymous sign-in
//! form's double-submit token, `SameSite=Strict`). Both `HttpOnly`, `Path=/portal`, and
//! `Secure` when the portal is served over https. Pure.

use actix_web::http::header::{self, HeaderMap};

/// The session cookie's name.
pub(crate) const SESSION: &str = "tally_session";
/// The sign-in form's CSRF cookie's name.
pub(crate) const LOGIN_CSRF: &str = "tally_login_csrf";

/// How a cookie may travel cross-site.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SameSite {
    Lax,
    Strict,
}

/// The value of cookie `name` in the request's `Cookie` headers, if any.
pub(crate) fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
}

/// A `Set-Cookie` value: `name=value` for `max_age` seconds (0 deletes it).
pub(crate) fn set(name: &str, value: &str, max_age: i64, same_site: SameSite, secure: bool) -> String {
    let same_site = match same_site {
        SameSite::Lax => "Lax",
        SameSite::Strict => "Strict",
    };
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/portal; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn a_cookie_is_found_among_others_and_a_missing_one_is_none() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; tally_session=acme.xyz ; b=2"));
        assert_eq!(read(&headers, SESSION).as_deref(), Some("acme.xyz"));
        assert_eq!(read(&headers, LOGIN_CSRF), None);
    }

    #[test]
    fn a_set_cookie_is_http_only_scoped_to_the_portal_and_secure_only_over_https() {
        let plain = set(SESSION, "v", 28_800, SameSite::Lax, false);
        assert_eq!(plain, "tally_session=v; Path=/portal; Max-Age=28800; HttpOnly; SameSite=Lax");
        assert!(set(LOGIN_CSRF, "v", 0, SameSite::Strict, true).ends_with("SameSite=Strict; Secure"));
    }
}
