//! JWTs for people and short-lived access: `tally token issue`, portal sessions (DESIGN §10).
//!
//! Stage: auth, at the edge. Input is a token string (or a [`Principal`] to issue for); output
//! is a verified `Principal` or a named [`JwtError`]. Pure: no IO, and the caller passes `now`
//! to both [`JwtKeys::issue`] and [`JwtKeys::verify`].
//!
//! Verification picks the key by the header's `kid` and then accepts only that key's
//! configured algorithm, so a token cannot choose how it is checked (no `alg` confusion, no
//! `none`). `exp`, `iss` and `aud` are required and `iss`/`aud` must match exactly. `exp`,
//! `nbf` (when present) and `iat` (when present, never in the future) are checked against the
//! caller's `now` with a 30 s leeway rather than jsonwebtoken's system clock, so tests and the
//! `Clock` abstraction decide what time it is.
//!
//! Claims: `sub`, `role` (`admin`/`ingest`/`tenant`), `tenant` (only when scoped), `iat`,
//! `exp`, `iss`, `aud`. Keys listed after the first only verify: that is how keys rotate.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};

use super::jwt_key::{jsonwebtoken_algorithm, JwtKey, JwtKeyError};
use super::role::{Principal, Role, RoleError};
use crate::config::{JwtAlgorithm, JwtKeyConfig};
use crate::domain::TenantId;

/// Allowance for clock skew between the issuer and this node when checking `exp`.
const LEEWAY_SECS: i64 = 30;

/// Why a token could not be issued or was not accepted. Messages never echo the token.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("token is for another audience")]
    WrongAudience,
    #[error("token is from another issuer")]
    WrongIssuer,
    #[error("token is missing the {0} claim")]
    MissingClaim(String),
    #[error("token claim {0} is invalid")]
    InvalidClaim(String),
    #[error("token header has no key id")]
    MissingKid,
    #[error("token key id is not known")]
    UnknownKid,
    #[error("token algorithm does not match its key")]
    AlgorithmMismatch,
    #[error("token is malformed")]
    Malformed,
    #[error("token signature is invalid")]
    InvalidSignature,
    #[error("the signing key is verify-only and cannot issue tokens")]
    NoSigningKey,
    #[error("token lifetime must be at least one second")]
    InvalidTtl,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The configured JWT keys plus the expected issuer and audience.
#[derive(Debug)]
pub struct JwtKeys {
    keys: Vec<JwtKey>,
    issuer: String,
    audience: String,
}

#[derive(Serialize)]
struct IssuedClaims<'a> {
    sub: &'a str,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    iat: i64,
    exp: i64,
    iss: &'a str,
    aud: &'a str,
}

/// What verification reads back; lenient so a bad claim gets a named error, not `Malformed`.
/// `iss` and `aud` are checked by jsonwebtoken.
#[derive(Deserialize)]
struct PresentedClaims {
    sub: Option<String>,
    role: Option<String>,
    tenant: Option<String>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
}

impl JwtKeys {
    /// Loads every configured key; the first one signs, the rest only verify.
    ///
    /// # Errors
    /// [`JwtKeyError`] when there is no key, a `kid` repeats, issuer or audience is empty, or a
    /// key cannot be loaded (see `jwt_key` for what each algorithm accepts).
    pub fn from_config(configs: &[JwtKeyConfig], issuer: &str, audience: &str) -> Result<Self, JwtKeyError> {
        if configs.is_empty() {
            return Err(JwtKeyError::NoKeys);
        }
        if issuer.is_empty() || audience.is_empty() {
            return Err(JwtKeyError::MissingIssuerOrAudience);
        }
        let mut seen = HashSet::new();
        if let Some(dup) = configs.iter().find(|config| !seen.insert(config.kid.as_str())) {
            return Err(JwtKeyError::DuplicateKid { kid: dup.kid.clone() });
        }
        let keys = configs.iter().map(JwtKey::load).collect::<Result<_, _>>()?;
        Ok(Self { keys, issuer: issuer.to_owned(), audience: audience.to_owned() })
    }

    /// The `kid` new tokens are signed with.
    pub fn signing_kid(&self) -> &str {
        self.keys.first().map_or("", |key| key.kid.as_str())
    }

    /// Signs a token for `principal`, valid from `now` for `ttl`, with the first key.
    ///
    /// # Errors
    /// [`JwtError::InvalidTtl`] for a lifetime under one second, [`JwtError::NoSigningKey`]
    /// when the first key is verify-only, [`JwtError::Unexpected`] if signing fails.
    pub fn issue(&self, principal: &Principal, ttl: Duration, now: DateTime<Utc>) -> Result<String, JwtError> {
        let iat = now.timestamp();
        let exp = iat.checked_add(ttl.num_seconds()).filter(|_| ttl.num_seconds() >= 1).ok_or(JwtError::InvalidTtl)?;
        let key = self.keys.first().ok_or(JwtError::NoSigningKey)?;
        let encoding = key.encoding.as_ref().ok_or(JwtError::NoSigningKey)?;
        let mut header = Header::new(jsonwebtoken_algorithm(key.algorithm));
        header.kid = Some(key.kid.clone());
        let claims = IssuedClaims {
            sub: principal.subject(),
            role: principal.role(),
            tenant: principal.tenant().map(TenantId::as_str),
            iat,
            exp,
            iss: &self.issuer,
            aud: &self.audience,
        };
        jsonwebtoken::encode(&header, &claims, encoding)
            .map_err(|e| JwtError::Unexpected(anyhow::Error::new(e).context("Failed to sign a jwt")))
    }

    /// Verifies `token` as of `now` and returns the caller it stands for.
    ///
    /// # Errors
    /// A named [`JwtError`] for each way a token can be refused: no or unknown `kid`, an `alg`
    /// other than the key's, a bad signature, a missing or mismatched `exp`/`iss`/`aud`,
    /// expiry (beyond 30 s of leeway), or claims that do not make a valid [`Principal`].
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Principal, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        let kid = header.kid.as_deref().ok_or(JwtError::MissingKid)?;
        let key = self.keys.iter().find(|key| key.kid == kid).ok_or(JwtError::UnknownKid)?;
        if header.alg != jsonwebtoken_algorithm(key.algorithm) {
            return Err(JwtError::AlgorithmMismatch);
        }
        let validation = self.validation(key.algorithm);
        let claims = jsonwebtoken::decode::<PresentedClaims>(token, &key.decoding, &validation)
            .map_err(map_decode_error)?
            .claims;
        check_times(&claims, now)?;
        into_principal(claims)
    }

    fn validation(&self, algorithm: JwtAlgorithm) -> Validation {
        let mut validation = Validation::new(jsonwebtoken_algorithm(algorithm));
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.leeway = LEEWAY_SECS.unsigned_abs();
        // jsonwebtoken would compare `exp` with the system clock; `check_expiry` uses `now`.
        validation.validate_exp = false;
        validation
    }
}

/// `exp` must not have passed, `nbf` (when present) must have come, and `iat` (when present)
/// must not be ahead of `now` — each with the leeway. A token stamped in the future is refused
/// rather than trusted from then on: a signer with a wrong clock, or a token minted to be
/// replayed later, is not a credential for now.
fn check_times(claims: &PresentedClaims, now: DateTime<Utc>) -> Result<(), JwtError> {
    let now = now.timestamp();
    let exp = claims.exp.ok_or_else(|| JwtError::InvalidClaim("exp".to_owned()))?;
    if exp.saturating_add(LEEWAY_SECS) < now {
        return Err(JwtError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf.saturating_sub(LEEWAY_SECS) > now) {
        return Err(JwtError::NotYetValid);
    }
    if claims.iat.is_some_and(|iat| iat.saturating_sub(LEEWAY_SECS) > now) {
        return Err(JwtError::IssuedInFuture);
    }
    Ok(())
}

fn into_principal(claims: PresentedClaims) -> Result<Principal, JwtError> {
    let invalid = |claim: &str| JwtError::InvalidClaim(claim.to_owned());
    let subject = claims.sub.filter(|sub| !sub.is_empty()).ok_or_else(|| JwtError::MissingClaim("sub".into()))?;
    let role = claims.role.ok_or_else(|| JwtError::MissingClaim("role".into()))?;
    let role = Role::parse(&role).ok_or_else(|| invalid("role"))?;
    let tenant = claims.tenant.map(|t| TenantId::parse(&t)).transpose().map_err(|_| invalid("tenant"))?;
    Principal::new(role, tenant, subject).map_err(|e| match e {
        RoleError::InvalidSubject => invalid("sub"),
        RoleError::UnknownRole | RoleError::TenantRoleWithoutTenant => invalid("tenant"),
    })
}

fn map_decode_error(error: jsonwebtoken::errors::Error) -> JwtError {
    match error.kind() {
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
        ErrorKind::InvalidAudience => JwtError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => JwtError::MissingClaim(claim.clone()),
        ErrorKind::InvalidClaimFormat(claim) => JwtError::InvalidClaim(claim.clone()),
        ErrorKind::InvalidSignature => JwtError::InvalidSignature,
        ErrorKind::InvalidAlgorithm => JwtError::AlgorithmMismatch,
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => JwtError::Malformed,
        _ => JwtError::Unexpected(anyhow::Error::new(error).context("Failed to verify a jwt")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use jsonwebtoken::{Algorithm, EncodingKey};
    use serde_json::json;

    use super::*;

    const HS_SECRET: &str = "0123456789abcdef0123456789abcdef-test-only";
    const OTHER_HS_SECRET: &str = "fedcba9876543210fedcba9876543210-test-only";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_735_689_600, 0).expect("2025-01-01 is a valid time")
    }

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/auth/testdata").join(name)
    }

    fn hs(kid: &str, secret: &str) -> JwtKeyConfig {
        JwtKeyConfig { kid: kid.into(), algorithm: JwtAlgorithm::Hs256, secret: Some(secret.into()), key_file: None }
    }

    fn file(kid: &str, algorithm: JwtAlgorithm, name: &str) -> JwtKeyConfig {
        JwtKeyConfig { kid: kid.into(), algorithm, secret: None, key_file: Some(testdata(name)) }
    }

    fn keys(configs: &[JwtKeyConfig]) -> JwtKeys {
        JwtKeys::from_config(configs, "tally", "tally").expect("test keys load")
    }

    fn admin() -> Principal {
        Principal::new(Role::Admin, None, "alice@example.com").expect("admins need no tenant")
    }

    fn issue(keys: &JwtKeys) -> String {
        keys.issue(&admin(), Duration::hours(1), now()).expect("issuing works")
    }

    /// Signs arbitrary claims with an HS256 secret, bypassing `issue`, to build hostile tokens.
    fn forge(kid: Option<&str>, claims: serde_json::Value, secret: &str) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.as_bytes())).expect("forging works")
    }

    fn valid_claims() -> serde_json::Value {
        let iat = now().timestamp();
        json!({ "sub": "mallory", "role": "admin", "iat": iat, "exp": iat + 3600, "iss": "tally", "aud": "tally" })
    }

    fn without(claim: &str) -> serde_json::Value {
        let mut claims = valid_claims();
        claims.as_object_mut().expect("claims are an object").remove(claim);
        claims
    }

    /// Unpadded base64url, for hand-built tokens that jsonwebtoken refuses to encode.
    fn b64url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0_u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            }
        }
        out
    }

    #[test]
    fn a_token_round_trips_with_each_supported_algorithm() {
        let cases = [
            ("HS256", hs("k1", HS_SECRET)),
            ("EdDSA", file("k1", JwtAlgorithm::EdDsa, "ed25519.pem")),
            ("RS256", file("k1", JwtAlgorithm::Rs256, "rsa_private.pem")),
        ];
        for (alg, config) in cases {
            // Arrange
            let keys = keys(&[config]);
            // Act
            let token = issue(&keys);
            let header = jsonwebtoken::decode_header(&token).expect("issued tokens have a header");
            // Assert
            assert_eq!(format!("{:?}", header.alg), alg, "{alg} header alg");
            assert_eq!(header.kid.as_deref(), Some("k1"), "{alg} header kid");
            assert_eq!(keys.verify(&token, now()).expect("own token verifies"), admin(), "{alg} round trip");
        }
    }

    #[test]
    fn an_issued_token_carries_the_documented_claims() {
        let keys = keys(&[hs("k1", HS_SECRET)]);
        let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(issue(&keys))
            .expect("issued tokens decode")
            .claims;
        let iat = now().timestamp();
        let expected = json!({ "sub": "alice@example.com", "role": "admin", "iat": iat, "exp": iat + 3600,
                               "iss": "tally", "aud": "tally" });
        assert_eq!(claims, expected, "an unscoped token has no tenant claim");
    }

    #[test]
    fn a_tenant_scoped_token_round_trips_with_its_tenant() {
        let keys = keys(&[hs("k1", HS_SECRET)]);
        let acme = TenantId::parse("acme").expect("valid slug");
        let tenant = Principal::new(Role::Tenant, Some(acme), "bob@acme.test").expect("valid principal");
        let token = keys.issue(&tenant, Duration::minutes(15), now()).expect("issues");
        assert_eq!(keys.verify(&token, now()).expect("verifies"), tenant);
    }

    #[test]
    fn a_token_is_accepted_within_the_leeway_and_rejected_after_it() {
        let keys = keys(&[hs("k1", HS_SECRET)]);
        let token = issue(&keys);
        let expiry = now() + Duration::hours(1);
        assert!(keys.verify(&token, expiry + Duration::seconds(30)).is_ok(), "30 s after exp is within leeway");
        let late = keys.verify(&token, expiry + Duration::seconds(31));
        assert!(matches!(late, Err(JwtError::Expired)), "{late:?}");
    }

    #[test]
    fn a_token_not_valid_yet_or_issued_in_the_future_is_rejected_beyond_the_leeway() {
        let keys = keys(&[hs("k1", HS_SECRET)]);
        let at = now().timestamp();
        let with = |claim: &str, value: i64| {
            let mut claims = valid_claims();
            claims[claim] = json!(value);
            forge(Some("k1"), claims, HS_SECRET)
        };
        for (why, token) in
            [("nbf in an hour", with("nbf", at + 3600)), ("nbf in ten years", with("nbf", at + 315_360_000))]
        {
            let result = keys.verify(&token, now());
            assert!(matches!(result, Err(JwtError::NotYetValid)), "{why}: {result:?}");
        }
        let result = keys.verify(&with("iat", at + 3600), now());
        assert!(matches!(result, Err(JwtError::IssuedInFuture)), "iat in an hour: {result:?}");
        for (why, token) in [
            ("nbf now", with("nbf", at)),
            ("nbf within the leeway", with("nbf", at + 30)),
            ("nbf past", with("nbf", at - 60)),
            ("iat within the leeway", with("iat", at + 30)),
        ] {
            assert_eq!(keys.verify(&token, now()).expect(why), Principal::new(Role::Admin, None, "mallory").unwrap());
        }
        assert!(keys.verify(&with("nbf", at + 31), now()).is_err(), "31 s ahead is beyond the leeway");
    }

    #[test]
    fn alg_none_in_any_spelling_is_malformed() {
        let keys = keys(&[hs("k1", HS_SECRET)]);
        let payload = b64url(valid_claims().to_string().as_bytes());
        for alg in ["none", "None", "NONE", "nOnE", ""] {
            let header = b64url(format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"k1"}}"#).as_bytes());
            for token in [format!("{header}.{payload}."), format!("{header}.{payload}.c2ln")] {
                let result = keys.verify(&token, now());
                assert!(matches!(result, Err(JwtError::Malformed)), "alg {alg:?}: {result:?}");
            }
        }
    }

    #[test]
    fn a_token_for_another_audience_or_from_another_issuer_is_rejected() {
        let config = [hs("k1", HS_SECRET)];
        type IsExpected = fn(&JwtError) -> bool;
        let wrong_audience: IsExpected = |e| matches!(e, JwtError::WrongAudience);
        let wrong_issuer: IsExpected = |e| matches!(e, JwtError::WrongIssuer);
        for (issuer, audience, expected) in [("tally", "someone-else", wrong_audience), ("evil", "tally", wrong_issuer)]
        {
            let other = JwtKeys::from_config(&config, issuer, audience).expect("loads");
            let result = keys(&config).verify(&issue(&other), now());
            assert!(result.as_ref().is_err_and(expected), "issuer {issuer}, audience {audience}: {result:?}");
        }
    }

    #[test]
    fn a_token_missing_exp_iss_or_aud_is_rejected_naming_the_claim() {
        let keys = keys(&[hs("k1", HS_SECRET)]);
        for claim in ["exp", "iss", "aud"] {
            let result = keys.verify(&forge(Some("k1"), without(claim), HS_SECRET), now());
            assert!(matches!(&result, Err(JwtError::MissingClaim(c)) if c == claim), "without {claim}: {result:?}");
        }
    }

    #[test]
    fn a_token_missing_sub_or_role_or_with_a_bad_role_is_rejected() {
        let keys = keys(&[hs("k1", HS_SECRET)]);
        for claim in ["sub", "role"] {
            let result = keys.verify(&forge(Some("k1"), without(claim), HS_SECRET), now());
            assert!(matches!(&result, Err(JwtError::MissingClaim(c)) if c == claim), "without {claim}: {result:?}");
        }
        let mut claims = valid_claims();
        claims["role"] = json!("root");
        let result = keys.verify(&forge(Some("k1"), claims, HS_SECRET), now());
        assert!(matches!(result, Err(JwtError::InvalidClaim(_))), "{result:?}");
        let mut claims = valid_claims();
        claims["role"] = json!("tenant");
        let result = keys.verify(&forge(Some("k1"), claims, HS_SECRET), now());
        assert!(matches!(result, Err(JwtError::InvalidClaim(_))), "tenant role without tenant: {result:?}");
    }

    #[test]
    fn an_hs256_token_under_an_rs256_kid_is_rejected_even_when_signed_with_the_public_key() {
        // Arrange: the classic confusion attack uses the RSA public key as the HMAC secret.
        let keys = keys(&[file("rsa", JwtAlgorithm::Rs256, "rsa_public.pem")]);
        let public_pem = std::fs::read_to_string(testdata("rsa_public.pem")).expect("test file exists");
        // Act
        let result = keys.verify(&forge(Some("rsa"), valid_claims(), &public_pem), now());
        // Assert
        assert!(matches!(result, Err(JwtError::AlgorithmMismatch)), "{result:?}");
    }

    #[test]
    fn an_eddsa_token_presented_under_an_hs256_kid_is_rejected() {
        let eddsa = keys(&[file("k1", JwtAlgorithm::EdDsa, "ed25519.pem")]);
        let result = keys(&[hs("k1", HS_SECRET)]).verify(&issue(&eddsa), now());
        assert!(matches!(result, Err(JwtError::AlgorithmMismatch)), "{result:?}");
    }

    #[test]
    fn an_unsigned_alg_none_token_is_rejected() {
        let keys = keys(&[hs("k1", HS_SECRET)]);
        let header = b64url(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
        let payload = b64url(valid_claims().to_string().as_bytes());
        for token in [format!("{header}.{payload}."), format!("{header}.{payload}")] {
            let result = keys.verify(&token, now());
            assert!(matches!(result, Err(JwtError::Malformed)), "{token}: {result:?}");
        }
    }

    #[test]
    fn a_token_naming_no_known_key_or_signed_by_another_secret_is_rejected() {
        let keys = keys(&[hs("k1", HS_SECRET)]);
        let cases = [
            (None, HS_SECRET, JwtError::MissingKid, "no kid"),
            (Some("k9"), HS_SECRET, JwtError::UnknownKid, "a kid no configured key has"),
            (Some("k1"), OTHER_HS_SECRET, JwtError::InvalidSignature, "another secret under a known kid"),
        ];
        for (kid, secret, expected, why) in cases {
            let result = keys.verify(&forge(kid, valid_claims(), secret), now());
            let same = |e: &JwtError| std::mem::discriminant(e) == std::mem::discriminant(&expected);
            assert!(result.as_ref().is_err_and(same), "{why}: {result:?}");
        }
    }

    #[test]
    fn an_old_key_listed_second_still_verifies_until_it_is_removed() {
        // Arrange
        let old = hs("2024", OTHER_HS_SECRET);
        let new = file("2025", JwtAlgorithm::EdDsa, "ed25519.pem");
        let token = issue(&keys(std::slice::from_ref(&old)));
        // Act
        let rotated = keys(&[new.clone(), old]);
        let retired = keys(&[new]);
        // Assert
        assert_eq!(rotated.signing_kid(), "2025");
        assert_eq!(rotated.verify(&token, now()).expect("old token still verifies"), admin());
        assert_eq!(rotated.verify(&issue(&rotated), now()).expect("new token verifies"), admin());
        assert!(matches!(retired.verify(&token, now()), Err(JwtError::UnknownKid)));
    }

    #[test]
    fn a_token_with_a_tampered_signature_or_payload_is_rejected() {
        let keys = keys(&[file("k1", JwtAlgorithm::EdDsa, "ed25519.pem")]);
        let token = issue(&keys);
        let (message, signature) = token.rsplit_once('.').expect("three parts");
        let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
        let bad_signature = format!("{message}.{flipped}{}", &signature[1..]);
        let header = message.split('.').next().expect("has a header");
        let mut claims = valid_claims();
        claims["sub"] = json!("alice@example.com");
        claims["tenant"] = json!("acme");
        let bad_payload = format!("{header}.{}.{signature}", b64url(claims.to_string().as_bytes()));
        for (description, token) in [("signature", bad_signature), ("payload", bad_payload)] {
            let result = keys.verify(&token, now());
            assert!(matches!(result, Err(JwtError::InvalidSignature)), "tampered {description}: {result:?}");
        }
    }

    #[test]
    fn garbage_is_malformed() {
        let keys = keys(&[hs("k1", HS_SECRET)]);
        for garbage in ["", "not a token", "a.b.c", "tly_0123456789ab_00"] {
            assert!(matches!(keys.verify(garbage, now()), Err(JwtError::Malformed)), "{garbage:?}");
        }
    }

    #[test]
    fn a_verify_only_key_set_verifies_but_cannot_issue() {
        let signer = keys(&[file("k1", JwtAlgorithm::EdDsa, "ed25519.pem")]);
        let verifier = keys(&[file("k1", JwtAlgorithm::EdDsa, "ed25519_public.pem")]);
        assert_eq!(verifier.verify(&issue(&signer), now()).expect("verifies"), admin());
        assert!(matches!(verifier.issue(&admin(), Duration::hours(1), now()), Err(JwtError::NoSigningKey)));
    }

    #[test]
    fn a_lifetime_under_one_second_is_refused() {
        let keys = keys(&[hs("k1", HS_SECRET)]);
        for ttl in [Duration::zero(), Duration::milliseconds(999), Duration::hours(-1)] {
            assert!(matches!(keys.issue(&admin(), ttl, now()), Err(JwtError::InvalidTtl)), "{ttl}");
        }
    }

    #[test]
    fn key_sets_need_a_key_unique_kids_and_an_issuer_and_audience() {
        let one = [hs("k1", HS_SECRET)];
        assert!(matches!(JwtKeys::from_config(&[], "tally", "tally"), Err(JwtKeyError::NoKeys)));
        let twice = [hs("k1", HS_SECRET), hs("k1", OTHER_HS_SECRET)];
        assert!(matches!(JwtKeys::from_config(&twice, "tally", "tally"), Err(JwtKeyError::DuplicateKid { .. })));
        assert!(matches!(JwtKeys::from_config(&one, "", "tally"), Err(JwtKeyError::MissingIssuerOrAudience)));
        assert!(matches!(JwtKeys::from_config(&one, "tally", ""), Err(JwtKeyError::MissingIssuerOrAudience)));
    }
}
