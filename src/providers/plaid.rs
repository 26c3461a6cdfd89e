//! Plaid (a JWT in `Plaid-Verification`, its key fetched at run time).
//!
//! Source: plaid.com/docs/api/webhooks/webhook-verification/ (the `ES256` check, the `kid`, the
//! `/webhook_verification_key/get` endpoint and its JWK fields); Plaid's help-center article
//! "Webhook verification example" (support.plaid.com, article 360041410794: reject keys with
//! `expired_at`, reject an `iat` older than 5 minutes, compare `request_body_sha256` with the
//! SHA-256 of the body in constant time); `plaid/plaid-python` `plaid/api/plaid_api.py`
//! (`webhook_verification_key_get`) @49324e9. A real Plaid JWT, its JWK and body, published in
//! a public Q&A, verify with this scheme (see the crate's tests).

use std::borrow::Cow;

use base64::Engine as _;
use http::{HeaderMap, HeaderName};
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use super::{
    Draft, Parsed, Request, Scheme, SignContent, SignedRequest, Timestamp, header_str,
    insert_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::keysource::{KeyError, KeyKind, KeyRef, RemoteKey};
use crate::secret::{KeyFormat, parse_jwk};

const NAME: &str = "plaid";

static VERIFICATION: HeaderName = HeaderName::from_static("plaid-verification");

/// The longest JWT accepted (Plaid's are about 400 characters).
const MAX_JWT: usize = 4096;

/// [Plaid](https://plaid.com/docs/api/webhooks/webhook-verification/): `Plaid-Verification`
/// holds a JWT signed with **ES256** (ECDSA P-256, `r ‖ s`) whose claims are `iat` (Unix
/// seconds) and `request_body_sha256` (the hex SHA-256 of the raw body, the only link between
/// the signature and the body). The key is the JSON Web Key named by the JWT header's `kid`,
/// **fetched at run time** from Plaid's `/webhook_verification_key/get`: verify through a
/// [`KeyCache`](crate::keysource::KeyCache) whose source posts `{"client_id", "secret",
/// "key_id": <kid>}` there and returns the answer as is, or give the
/// [`Receiver`](crate::Receiver) one.
///
/// * **Checked before any fetch**: `alg` is `ES256` (anything else, `none` included, is
///   refused), the `kid` is present, `iat` is inside the tolerance, and `request_body_sha256`
///   equals the SHA-256 of the body (compared in constant time) — a JWT replayed with another
///   body fails here.
/// * **Key**: Plaid's answer (`{"key": {…}, "request_id": …}`) or a bare JWK: `kty` `EC`, `crv`
///   `P-256`, its `kid` the one asked for; a key with `expired_at` set has been rotated out
///   and verifies nothing (as Plaid's example does). A JWK may also be pinned
///   ([`public_key`](crate::VerifierBuilder::public_key) with its JSON).
/// * **Tolerance**: `iat` at most 5 minutes old (Plaid's example) and, as policy, at most
///   5 minutes in the future.
/// * **Dedup key**: Plaid documents no event id; a delivery is deduplicated by the SHA-256 of
///   its signed JWT content (which holds `iat` and the body's hash). A webhook Plaid sends again
///   with a new JWT is a new delivery: make handlers idempotent on the webhook's own fields
///   (`item_id`, `webhook_code`).
/// * **Exact bytes**: Plaid hashes the body as it sends it (JSON indented by two spaces); a
///   body re-serialised on the way no longer matches the claim.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Plaid;

impl Plaid {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

fn malformed(reason: &'static str) -> VerifyError {
    VerifyError::malformed(&VERIFICATION, reason)
}

/// Decodes one base64url segment of the JWT into at most `max` bytes.
fn segment(text: &str, max: usize) -> Result<Vec<u8>, VerifyError> {
    if text.len() > max.div_ceil(3) * 4 {
        return Err(malformed("a JWT segment is too long"));
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| malformed("a JWT segment is not unpadded base64url"))
}

/// The SHA-256 of the body, which the JWT's `request_body_sha256` claims (in hex).
fn body_sha256(body: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(body).into()
}

/// The JWS signing input, `{header}.{claims}` (both still base64url), fed in pieces: what
/// [`Plaid::parse`] checks and [`Plaid::sign`] signs.
fn feed_signing_input(header_b64: &str, claims_b64: &str, feed: &mut dyn FnMut(&[u8])) {
    feed(header_b64.as_bytes());
    feed(b".");
    feed(claims_b64.as_bytes());
}

#[derive(serde::Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Option<Cow<'a, str>>,
    kid: Option<String>,
}

#[derive(serde::Deserialize)]
struct Claims {
    iat: Option<i64>,
    request_body_sha256: Option<String>,
}

impl Scheme for Plaid {
    fn name(&self) -> &str {
        NAME
    }

    /// A pinned key, as a JWK.
    fn key_format(&self) -> KeyFormat {
        KeyFormat::Jwk
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64Url
    }

    fn algorithms(&self) -> &[Algorithm] {
        &[Algorithm::Es256]
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn fetches_keys(&self) -> bool {
        true
    }

    /// Plaid's answer to `/webhook_verification_key/get` or a bare JWK; refuses a key for
    /// another `kid` and a key with `expired_at` set ([`KeyError::Expired`]).
    fn parse_remote_key(&self, key: &KeyRef<'_>, document: &[u8]) -> Result<RemoteKey, KeyError> {
        let invalid = |reason| KeyError::Invalid { reason };
        let value: serde_json::Value =
            serde_json::from_slice(document).map_err(|_| invalid("not JSON"))?;
        let jwk = match value.get("key") {
            Some(inner @ serde_json::Value::Object(_)) => inner,
            _ => &value,
        };
        let text = serde_json::to_vec(jwk).map_err(|_| invalid("not JSON"))?;
        let jwk = parse_jwk(&text).map_err(invalid)?;
        if jwk.kid.as_deref().is_some_and(|kid| kid != key.id) {
            return Err(invalid("a key for another `kid`"));
        }
        if jwk.expired_at.is_some() {
            return Err(KeyError::Expired);
        }
        Ok(RemoteKey::new(jwk.key))
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let jwt = header_str(request.headers, &VERIFICATION)?
            .ok_or_else(|| VerifyError::missing(&VERIFICATION))?;
        if jwt.len() > MAX_JWT {
            return Err(malformed("the JWT is too long"));
        }
        let mut parts = jwt.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not a JWT (three dot-separated parts)"));
        };
        let header_json = segment(header_b64, 1024)?;
        let header: Header<'_> = serde_json::from_slice(&header_json)
            .map_err(|_| malformed("the JWT header is not a JSON object"))?;
        // Before anything else: the algorithm is the one Plaid documents, never `none`.
        if header.alg.as_deref() != Some("ES256") {
            return Err(malformed("the JWT's `alg` is not ES256"));
        }
        let kid = header
            .kid
            .filter(|kid| !kid.is_empty() && kid.len() <= 128)
            .filter(|kid| kid.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or(malformed("the JWT header has no usable `kid`"))?;
        let claims_json = segment(claims_b64, 2048)?;
        let claims: Claims = serde_json::from_slice(&claims_json)
            .map_err(|_| malformed("the JWT claims are not a JSON object of the expected types"))?;
        let iat = claims
            .iat
            .filter(|iat| (0..=999_999_999_999).contains(iat))
            .ok_or(malformed("the JWT has no `iat` in Unix seconds"))?;
        let claimed = claims
            .request_body_sha256
            .ok_or(malformed("the JWT has no `request_body_sha256`"))?;
        let mut claimed_hash = [0u8; 32];
        hex::decode_to_slice(&claimed, &mut claimed_hash)
            .map_err(|_| malformed("the JWT's `request_body_sha256` is not 64 hex digits"))?;
        // The claim binds the body: a JWT replayed with another body is refused here.
        let actual = body_sha256(request.body);
        if !bool::from(actual.ct_eq(&claimed_hash)) {
            return Err(VerifyError::SignatureMismatch);
        }
        // Checked here, before any key is fetched for it.
        let mut raw = [0u8; 64];
        if base64::engine::general_purpose::URL_SAFE_NO_PAD.decode_slice(signature, &mut raw)
            != Ok(64)
        {
            return Err(malformed(
                "the JWT signature is not 64 bytes of base64url (ES256)",
            ));
        }
        let mut content = Vec::with_capacity(header_b64.len() + 1 + claims_b64.len());
        feed_signing_input(header_b64, claims_b64, &mut |piece| {
            content.extend_from_slice(piece);
        });
        let mut parsed = Parsed::new(Algorithm::Es256)
            .with_signature_header(&VERIFICATION)
            .with_timestamp(Timestamp::new(iat * 1000, iat.to_string()))
            .with_key_ref(KeyRef::new(NAME, KeyKind::KeyId, kid));
        parsed.push_signature(signature);
        parsed.push_content(content);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        _parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        // `parse` always builds the content; this serves callers that did not parse.
        if let Ok(Some(jwt)) = header_str(request.headers, &VERIFICATION)
            && let Some(end) = jwt.rfind('.')
        {
            feed(&jwt.as_bytes()[..end]);
        }
    }

    fn event_id(&self) -> super::EventIdSource {
        super::EventIdSource::None
    }

    /// A UUID-shaped `kid`, as Plaid's are.
    fn default_key_id(&self, key_digest: &[u8; 32]) -> Option<String> {
        let h = hex::encode(&key_digest[..16]);
        Some(format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        ))
    }

    /// Writes `Plaid-Verification`: the JWT whose signing input `parsed` holds (its first
    /// [`contents`](Parsed::contents), as [`parse`](Scheme::parse) leaves it), then `.` and
    /// the signature.
    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        let input = parsed
            .contents()
            .first()
            .and_then(|c| std::str::from_utf8(c).ok())
            .ok_or_else(|| ConfigError::invalid("scheme", "no JWT signing input to write"))?;
        insert_header(
            headers,
            VERIFICATION.clone(),
            &format!("{input}.{signature}"),
        )
    }

    /// Signs as Plaid does: a JWT with the header `{"alg":"ES256","kid":…,"typ":"JWT"}` (the
    /// draft's key id) and the claims `{"iat":…,"request_body_sha256":…}` (the draft's time in
    /// seconds, the SHA-256 of its body), signed with ES256, in `Plaid-Verification`.
    fn sign(
        &self,
        draft: &Draft<'_>,
        signer: &mut dyn SignContent,
        out: &mut SignedRequest,
    ) -> Result<(), ConfigError> {
        if draft.algorithm != Algorithm::Es256 {
            return Err(ConfigError::invalid(
                "algorithm",
                "Plaid signs its JWTs with ES256 only",
            ));
        }
        let kid = draft
            .key_id
            .ok_or_else(|| ConfigError::invalid("key_id", "a Plaid JWT names its `kid`"))?;
        let kid_json = serde_json::to_string(kid)
            .map_err(|_| ConfigError::invalid("key_id", "not writable as JSON"))?;
        let header = format!(r#"{{"alg":"ES256","kid":{kid_json},"typ":"JWT"}}"#);
        let claims = format!(
            r#"{{"iat":{},"request_body_sha256":"{}"}}"#,
            draft.timestamp_millis.div_euclid(1000),
            hex::encode(body_sha256(draft.body))
        );
        let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        let (header_b64, claims_b64) = (b64(&header), b64(&claims));
        let mut input = Vec::with_capacity(header_b64.len() + 1 + claims_b64.len());
        feed_signing_input(&header_b64, &claims_b64, &mut |piece| {
            input.extend_from_slice(piece);
        });
        let signature = signer.sign(Algorithm::Es256, &mut |feed| feed(&input))?;
        let mut parsed = Parsed::new(Algorithm::Es256);
        parsed.push_content(input);
        out.body = draft.body.to_vec();
        self.write_headers(&parsed, &signature, &mut out.headers)
    }
}
