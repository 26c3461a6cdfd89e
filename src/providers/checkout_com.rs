//! Checkout.com workflow webhooks (`Cko-Signature`).
//!
//! Source: checkout.com/docs "Set up your webhook receiver" (developer-resources/webhooks) and
//! "Receive webhooks" (workflows). Checkout.com publishes no verification code and no example
//! signature.

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("cko-signature");

/// [Checkout.com](https://www.checkout.com/docs/developer-resources/webhooks/manage-webhooks/set-up-your-webhook-receiver)
/// workflow webhooks: `Cko-Signature: <hex>` ("hex-encoded (Base16)"), HMAC-SHA256 of the raw
/// body keyed with the signature key **you** set in the workflow's webhook action, verbatim
/// ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
///
/// * **The raw body is signed**: Checkout.com warns that deserialising and re-serialising the
///   JSON changes numbers and characters such as `©`; verify the bytes received.
/// * **No timestamp** is signed: the [`Receiver`](crate::Receiver) remembers deliveries for a
///   long retention. Checkout.com resends an unacknowledged webhook up to eight times (5, 10,
///   15, 30 minutes, 1, 4, 12 and 12 hours after each previous attempt: about 30 hours) and
///   guarantees at-least-once delivery, in any order.
/// * **Dedup key**: the body's top-level `id` (the event id, `evt_…`), which the signature
///   covers. A body without `id` is deduplicated by its MAC.
/// * A static `Authorization` header configured on the workflow is not a signature and is not
///   checked by this scheme.
/// * Hex is accepted in either case.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct CheckoutCom;

impl CheckoutCom {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for CheckoutCom {
    fn name(&self) -> &str {
        "checkout-com"
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
        EventIdSource::Json(&["id"])
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
