//! Bitbucket Cloud webhooks (`X-Hub-Signature: sha256=…`).
//!
//! Source: bitbucket.org/blog/enhanced-webhook-security (webhook secrets for Bitbucket Cloud,
//! 2023); support.atlassian.com "Manage webhooks" (Bitbucket Cloud); the Bitbucket Data Center
//! "Event payload" page, which describes the same secret mechanism. Atlassian publishes no
//! verification code and no example signature.

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-hub-signature");

/// [Bitbucket Cloud](https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/)
/// webhooks with a secret: `X-Hub-Signature: sha256=<hex>`, HMAC-SHA256 of the raw body keyed
/// with the webhook's secret, verbatim ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
///
/// * **Header-name trap**: GitHub (legacy), Intercom and Meta (legacy) send `sha1=` under the
///   same `X-Hub-Signature` name; Bitbucket sends `sha256=`. This scheme requires the
///   `sha256=` prefix and a SHA-256 MAC, so a `sha1=` value is malformed here — configure the
///   scheme of the provider that sends, never dispatch on the header name.
/// * Webhooks without a secret are not signed; this scheme refuses them (no header).
/// * **No timestamp** is signed: the [`Receiver`](crate::Receiver) remembers deliveries for a
///   long retention.
/// * **Dedup key**: a digest of the signed body. `X-Request-UUID`, `X-Hook-UUID` and
///   `X-Attempt-Number` are not signed, and the body has no delivery id.
/// * Hex is accepted in either case.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Bitbucket;

impl Bitbucket {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Bitbucket {
    fn name(&self) -> &str {
        "bitbucket"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let value = required_header(request.headers, &SIGNATURE)?;
        let Some(signature) = value.strip_prefix("sha256=") else {
            return Err(VerifyError::malformed(
                &SIGNATURE,
                "missing the `sha256=` prefix",
            ));
        };
        let mut parsed = Parsed::new(Algorithm::HmacSha256).with_signature_header(&SIGNATURE);
        parsed.push_signature(signature);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        _parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        feed(request.body);
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::None
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, SIGNATURE.clone(), &format!("sha256={signature}"))
    }
}
