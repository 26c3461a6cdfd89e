//! Lemon Squeezy (`X-Signature`).
//!
//! Source: docs.lemonsqueezy.com "Signing requests" and "Webhooks" (help and API reference).
//! `lmsqueezy/lemonsqueezy.js` @b1f66e9 has no verification helper and Lemon Squeezy publishes
//! no example signature.

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-signature");

/// [Lemon Squeezy](https://docs.lemonsqueezy.com/help/webhooks/signing-requests):
/// `X-Signature: <hex>`, the HMAC-SHA256 hex digest of the raw body keyed with the signing
/// secret you typed when creating the webhook ("anything you want", usually 6 to 40
/// characters), verbatim ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
///
/// * **Only 200 counts as success.** Lemon Squeezy retries anything else — 201, 202 and 204
///   included — up to three more times (5, 25 and 125 seconds later), then drops the
///   delivery. Answer exactly **200** from your handler; the adapters already answer 200 to a
///   duplicate.
/// * **No timestamp** is signed: the [`Receiver`](crate::Receiver) remembers deliveries for a
///   long retention.
/// * **Dedup key**: a digest of the signed body. The body is a JSON:API resource
///   (`{"meta": {"event_name": …}, "data": {"type": "orders", "id": "1", …}}`) with **no event
///   id**: `data.id` names the order or subscription, shared by all of its events, so it cannot
///   tell two events apart. `X-Event-Name` is not signed (use `meta.event_name`).
/// * Segment uses the same header name with HMAC-SHA1: a Lemon Squeezy verifier refuses its
///   40-digit signatures as malformed.
/// * Comparison is constant-time over the decoded bytes; hex is accepted in either case.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct LemonSqueezy;

impl LemonSqueezy {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for LemonSqueezy {
    fn name(&self) -> &str {
        "lemon-squeezy"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let signature = required_header(request.headers, &SIGNATURE)?;
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
        insert_header(headers, SIGNATURE.clone(), signature)
    }
}
