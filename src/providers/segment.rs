//! Segment Webhooks destinations (`X-Signature`, HMAC-SHA1).
//!
//! Source: `segmentio/action-destinations`
//! `packages/destination-actions/src/destinations/webhook/index.ts` (`extendRequest`) and
//! `webhook/__test__/webhook.test.ts` @970a17e (the same code is in `webhook-extensible` and
//! `webhook-audiences`); twilio.com/docs/segment "Webhooks (Actions)" and "Webhooks (classic)".

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-signature");

/// [Segment](https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-webhook)
/// Webhooks destinations (Actions and classic): `X-Signature: <hex>`, HMAC-**SHA1** of the raw
/// body keyed with the destination's *Shared Secret* text.
///
/// * **Key**: the Shared Secret from the destination settings, verbatim
///   ([`KeyFormat::Raw`](crate::KeyFormat::Raw)). Segment sends the header only when a secret is
///   configured: a request without it is refused.
/// * **No timestamp** is signed: the [`Receiver`](crate::Receiver) remembers Segment deliveries
///   for a long retention instead.
/// * **Dedup key**: the body's top-level `messageId` (the Segment event's id), which the
///   signature covers. A mapping that sends something else than the whole event has no
///   `messageId` and is deduplicated by the MAC of the body.
/// * **Batching cannot be verified.** With batching on (Actions Webhook, *Batch Size* above
///   0) Segment sends a JSON array of events but signs **only the first event**
///   (`JSON.stringify(payload[0].data)`): the signature authenticates none of the others, so
///   such deliveries are refused as mismatches. Turn batching off on signed destinations.
/// * Lemon Squeezy uses the same header name with HMAC-SHA256: a Segment verifier refuses its
///   64-digit signatures as malformed, and the reverse.
/// * Hex is accepted in either case.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Segment;

impl Segment {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Segment {
    fn name(&self) -> &str {
        "segment"
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
        let signature = required_header(request.headers, &SIGNATURE)?;
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
        EventIdSource::Json(&["messageId"])
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
