//! Intercom (`X-Hub-Signature: sha1=…`).
//!
//! Source: developers.intercom.com, "Webhooks" and the reference page "Signed notifications"
//! (`intercom-api-reference/v1.0/reference/signed-notifications`). Intercom publishes no SDK
//! that verifies, and no example signature with its secret.

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-hub-signature");

/// [Intercom](https://developers.intercom.com/intercom-api-reference/v1.0/reference/signed-notifications):
/// `X-Hub-Signature: sha1=<hex>`, HMAC-**SHA1** of the raw JSON body ("the hexadecimal
/// (40-byte) representation of a SHA-1 signature computed using the HMAC algorithm as defined
/// in RFC2104").
///
/// * **Key**: the app's `client_secret` (Developer Hub → the app → Basic information), used
///   verbatim as key bytes ([`KeyFormat::Raw`](crate::KeyFormat::Raw)). Old v1 API subscriptions
///   used their own `hub_secret` instead; configure that one for them.
/// * **SHA-1, not SHA-256**: the header has GitHub's legacy name and format, and a SHA-256
///   signature never matches. HMAC-SHA1 is still sound as a MAC.
/// * One signature per request; the `sha1=` prefix is required; hex is accepted in either case.
/// * **No timestamp** is signed, so time cannot refuse a replay: the
///   [`Receiver`](crate::Receiver) remembers Intercom deliveries for a long retention instead.
/// * **Dedup key**: the body's top-level `id` (`notif_…`), which the signature covers. The body
///   also carries `delivery_attempts` (the attempts made so far), so a retry's body — and its
///   MAC — may differ from the first attempt's: the id, not a digest, recognises it. A body
///   without `id` is deduplicated by its MAC.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Intercom;

impl Intercom {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Intercom {
    fn name(&self) -> &str {
        "intercom"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn algorithms(&self) -> &[Algorithm] {
        &[Algorithm::HmacSha1]
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let value = required_header(request.headers, &SIGNATURE)?;
        let Some(signature) = value.strip_prefix("sha1=") else {
            return Err(VerifyError::malformed(
                &SIGNATURE,
                "missing the `sha1=` prefix",
            ));
        };
        let mut parsed = Parsed::new(Algorithm::HmacSha1).with_signature_header(&SIGNATURE);
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
        EventIdSource::Json(&["id"])
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, SIGNATURE.clone(), &format!("sha1={signature}"))
    }
}
