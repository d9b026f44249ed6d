//! CSRF tokens (DESIGN §11: a token on every form). A signed-in page's token is derived from
//! the session secret (so it needs no storage and dies with the session); the anonymous
//! sign-in form uses a double-submit cookie: a random value in an `HttpOnly`, `SameSite=Strict`
//! cookie that the form must repeat. Another site can neither read the cookie nor make the
//! browser send it with a cross-site post. Comparisons are constant-time. Pure.

use subtle::ConstantTimeEq;

use super::error::PortalError;

/// The name of the hidden field every portal form carries.
pub(crate) const FIELD: &str = "csrf_token";

/// Ok when `presented` (the form's field) equals `expected` (the session's token or the
/// cookie's value); an absent or empty side is refused.
///
/// # Errors
/// [`PortalError::CsrfRefused`].
pub(crate) fn check(expected: Option<&str>, presented: Option<&str>) -> Result<(), PortalError> {
    match (expected, presented) {
        (Some(expected), Some(presented))
            if !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(PortalError::CsrfRefused),
    }
}

/// The fields of a submitted form, in order (`application/x-www-form-urlencoded` pairs);
/// parsing into pairs never fails on a missing field, so a form without its token is a 403
/// from [`check`], not a 400 from the parser.
pub(crate) struct Form(pub Vec<(String, String)>);

impl Form {
    /// The first value of `name`, if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The form's CSRF field.
    pub(crate) fn token(&self) -> Option<&str> {
        self.get(FIELD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_equal_non_empty_token_passes() {
        assert!(check(Some("abc"), Some("abc")).is_ok());
        for (expected, presented) in
            [(Some("abc"), None), (Some("abc"), Some("abd")), (None, Some("")), (Some(""), Some(""))]
        {
            assert!(check(expected, presented).is_err(), "{expected:?} vs {presented:?}");
        }
    }

    #[test]
    fn a_form_reads_its_first_value_of_a_field() {
        let form = Form(vec![("csrf_token".into(), "t".into()), ("a".into(), "1".into()), ("a".into(), "2".into())]);
        assert_eq!(form.token(), Some("t"));
        assert_eq!(form.get("a"), Some("1"));
        assert_eq!(form.get("b"), None);
    }
}
