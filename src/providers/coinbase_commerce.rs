//! Coinbase Commerce (`X-CC-Webhook-Signature`).
//!
//! Source: `coinbase/coinbase-commerce-node` `lib/Webhook.js` (`verifyEventBody`,
//! `verifySigHeader`, `computeSignature`) and `test/testWebhook.spec.js` @d46c596 (archived
//! 2021); docs.cdp.coinbase.com/commerce "Webhooks overview" and "Webhooks security".

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, json_path, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-cc-webhook-signature");

/// [Coinbase Commerce](https://docs.cdp.coinbase.com/commerce/api-architecture/webhooks-security):
/// `X-CC-Webhook-Signature: <hex>`, HMAC-SHA256 of the raw body keyed with the shared secret
/// (Settings → Notifications), verbatim ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
///
/// * **Body**: `{"id": …, "scheduled_for": …, "attempt_number": …, "event": {"id": …, …}}`.
///   As the SDK's `verifyEventBody` refuses a body without an `event`, a body without an
///   `event.id` is malformed here.
/// * **Dedup key**: `event.id`, which the signature covers. Each retry carries a higher
///   `attempt_number`, so its body and MAC differ; the event id does not.
/// * **No timestamp** is signed (`scheduled_for` is not a signing time): the
///   [`Receiver`](crate::Receiver) remembers deliveries for a long retention. Coinbase retries
///   a delivery not answered 200 with back-off for up to three days.
/// * Comparison is constant-time over the decoded bytes (the SDK compares the hex strings with
///   `secure-compare`); hex is accepted in either case.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct CoinbaseCommerce;

impl CoinbaseCommerce {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for CoinbaseCommerce {
    fn name(&self) -> &str {
        "coinbase-commerce"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let signature = required_header(request.headers, &SIGNATURE)?;
        if json_path(request.body, &["event", "id"]).is_none() {
            return Err(VerifyError::MalformedBody {
                reason: "not a Coinbase Commerce event: no `event.id`",
            });
        }
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
        EventIdSource::Json(&["event", "id"])
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
