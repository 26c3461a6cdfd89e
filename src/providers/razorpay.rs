//! Razorpay webhooks (`X-Razorpay-Signature`).
//!
//! Source: `razorpay/razorpay-python` `razorpay/utility/utility.py`
//! (`Utility.verify_webhook_signature`) and `tests/test_client_utility.py` @b56ac01;
//! `razorpay/razorpay-node` `lib/utils/razorpay-utils.js` (`validateWebhookSignature`, whose
//! error names the `X-Razorpay-Signature` header) and `test/utils/razorpay-utils.spec.js`
//! @9737ef1; razorpay.com/docs "Webhooks: best practices", "FAQs" and the integration
//! security checklist ("the X-Razorpay-Signature header on every webhook").

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-razorpay-signature");

/// [Razorpay](https://razorpay.com/docs/webhooks/) webhooks: `X-Razorpay-Signature: <hex>`,
/// HMAC-SHA256 of the raw body keyed with the **webhook secret** you typed when creating the
/// webhook, verbatim ([`KeyFormat::Raw`](crate::KeyFormat::Raw)) — not the API key secret,
/// which signs checkout callbacks (`razorpay_signature`, another scheme).
///
/// * **Rotation trap**: after you change the webhook secret, Razorpay still signs **retries of
///   events created before the change with the old secret**, for the whole retry window (24
///   hours from the event's creation). Keep the old secret configured for that day
///   ([`labeled_secret`](crate::VerifierBuilder::labeled_secret) shows which one matched).
/// * **No timestamp** is signed: the [`Receiver`](crate::Receiver) remembers deliveries for a
///   long retention. Any non-2xx answer is a failure; Razorpay retries with back-off for 24
///   hours, then disables the webhook.
/// * **Dedup key**: a digest of the signed body. The body has no event id (`event`,
///   `created_at` and the entities in `payload` identify it), and the `X-Razorpay-Event-Id`
///   header is **not signed**, so it is not trusted.
/// * Comparison is constant-time over the decoded bytes (the Node SDK compares hex strings
///   with `===`); hex is accepted in either case.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Razorpay;

impl Razorpay {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Razorpay {
    fn name(&self) -> &str {
        "razorpay"
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
