//! GitHub (`X-Hub-Signature-256`).
//!
//! Source: GitHub docs, "Validating webhook deliveries"; `octokit/webhooks-methods.js`.

use http::{HeaderMap, HeaderName};

use super::{Parsed, Request, Scheme, header_str, insert_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE_256: HeaderName = HeaderName::from_static("x-hub-signature-256");
static SIGNATURE_SHA1: HeaderName = HeaderName::from_static("x-hub-signature");

/// [GitHub](https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries):
/// `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body keyed with the secret text.
///
/// * No timestamp is signed, so time cannot refuse a replay: the receiver remembers GitHub
///   deliveries for a long retention instead (see [`Receiver`](crate::Receiver)).
/// * `X-GitHub-Delivery` is **not** signed; the dedup key is the HMAC-SHA256 of the body — also
///   when only the legacy SHA-1 header was checked, so stripping `X-Hub-Signature-256` from a
///   captured delivery does not give it a second key.
/// * The legacy `X-Hub-Signature: sha1=<hex>` (HMAC-SHA1) is accepted only after
///   [`GitHub::with_legacy_sha1`], and only when `X-Hub-Signature-256` is absent.
/// * Hex is accepted in either case.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct GitHub {
    legacy_sha1: bool,
}

impl GitHub {
    /// The scheme, SHA-256 only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also accept the legacy SHA-1 header when the SHA-256 one is missing. GitHub sends it
    /// "for compatibility" only; enable it only for senders that cannot send SHA-256.
    #[must_use]
    pub fn with_legacy_sha1(mut self) -> Self {
        self.legacy_sha1 = true;
        self
    }
}

impl Scheme for GitHub {
    fn name(&self) -> &str {
        "github"
    }

    fn algorithms(&self) -> &[Algorithm] {
        hub_algorithms(self.legacy_sha1)
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        parse_hub_signature(request, self.legacy_sha1)
    }

    fn signed_content(
        &self,
        _parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        feed(request.body);
    }

    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        write_hub_signature(parsed, signature, headers)
    }
}
/// The algorithms of a hub-signature scheme (GitHub, Meta): HMAC-SHA256, and HMAC-SHA1 when
/// legacy signatures are accepted.
pub(super) fn hub_algorithms(legacy_sha1: bool) -> &'static [Algorithm] {
    if legacy_sha1 {
        &[Algorithm::HmacSha256, Algorithm::HmacSha1]
    } else {
        &[Algorithm::HmacSha256]
    }
}

/// Parses `X-Hub-Signature-256: sha256=<hex>`, or — only when `legacy_sha1` and that header is
/// absent — `X-Hub-Signature: sha1=<hex>` (GitHub, Meta).
pub(super) fn parse_hub_signature<'r>(
    request: &Request<'r>,
    legacy_sha1: bool,
) -> Result<Parsed<'r>, VerifyError> {
    let headers = request.headers;
    let (name, value, prefix, algorithm) = match header_str(headers, &SIGNATURE_256)? {
        Some(v) => (&SIGNATURE_256, v, "sha256=", Algorithm::HmacSha256),
        None if legacy_sha1 => match header_str(headers, &SIGNATURE_SHA1)? {
            Some(v) => (&SIGNATURE_SHA1, v, "sha1=", Algorithm::HmacSha1),
            None => return Err(VerifyError::missing(&SIGNATURE_256)),
        },
        None => return Err(VerifyError::missing(&SIGNATURE_256)),
    };
    let Some(signature) = value.strip_prefix(prefix) else {
        return Err(VerifyError::malformed(name, "missing the algorithm prefix"));
    };
    let mut parsed = Parsed::new(algorithm).with_signature_header(name);
    parsed.push_signature(signature);
    Ok(parsed)
}

/// Writes the header of a hub-signature scheme for `parsed`'s algorithm.
pub(super) fn write_hub_signature(
    parsed: &Parsed<'_>,
    signature: &str,
    headers: &mut HeaderMap,
) -> Result<(), ConfigError> {
    match parsed.algorithm {
        Algorithm::HmacSha1 => insert_header(
            headers,
            SIGNATURE_SHA1.clone(),
            &format!("sha1={signature}"),
        ),
        _ => insert_header(
            headers,
            SIGNATURE_256.clone(),
            &format!("sha256={signature}"),
        ),
    }
}
