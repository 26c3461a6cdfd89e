//! Alchemy Notify (`X-Alchemy-Signature`).
//!
//! Source: `alchemyplatform/webhook-examples` `node-express/src/webhooksUtil.ts`
//! (`isValidSignatureForStringBody`, `AlchemyWebhookEvent`), `rust-actix/src/notify.rs` and
//! `python-django/webhook_server/backend/middleware.py` @28a2888, Alchemy's official examples;
//! alchemy.com/docs "Notify API quickstart".

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-alchemy-signature");

/// [Alchemy Notify](https://www.alchemy.com/docs/reference/notify-api-quickstart):
/// `X-Alchemy-Signature: <hex>`, HMAC-SHA256 of the raw body keyed with the webhook's
/// *signing key*.
///
/// * **Key**: the per-webhook signing key from the Notify dashboard (not the app's auth
///   token), **verbatim** ([`KeyFormat::Raw`](crate::KeyFormat::Raw)) — even when it looks like
///   a Svix secret: the quickstart's `whsec_test` is used as the ten bytes `whsec_test`, prefix
///   included, not base64-decoded.
/// * **No timestamp** is signed: the [`Receiver`](crate::Receiver) remembers deliveries for a
///   long retention.
/// * **Dedup key**: the body's top-level `id` (`whevt_…`, the event id of the examples'
///   `AlchemyWebhookEvent`), which the signature covers; `webhookId` names the webhook, not the
///   event. A body without `id` is deduplicated by its MAC.
/// * Answer 200: Alchemy treats anything else as a failed delivery.
/// * Comparison is constant-time over the decoded bytes (the official examples compare hex
///   strings with `===`); hex is accepted in either case.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Alchemy;

impl Alchemy {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Alchemy {
    fn name(&self) -> &str {
        "alchemy"
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
