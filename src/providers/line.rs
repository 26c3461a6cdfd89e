//! LINE Messaging API (`x-line-signature`, base64).
//!
//! Source: developers.line.biz/en/docs/messaging-api/verify-webhook-signature and
//! /receiving-messages; `line/line-bot-sdk-python` `linebot/v3/webhook.py`
//! (`SignatureValidator.validate`) and `tests/v3/test_webhook.py`.

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-line-signature");

/// [LINE Messaging API](https://developers.line.biz/en/docs/messaging-api/verify-webhook-signature/):
/// `x-line-signature: <base64>`, HMAC-SHA256 of the raw body keyed with the channel secret.
///
/// * **Key**: the channel secret from the channel's "Basic settings" tab, used verbatim
///   ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
/// * **Rotation has no overlap**: reissuing the channel secret invalidates the old one at once,
///   so deliveries signed just before the swap fail against the new one. Configure both secrets
///   for the moment of the swap (every configured key is tried), then remove the old one.
/// * **No timestamp** is signed in a header. Each event carries its own `timestamp` (the event's
///   time, in milliseconds) in the signed body; it is not the sending time — redeliveries keep
///   it — so it is not checked. The [`Receiver`](crate::Receiver) remembers LINE deliveries for a
///   long retention instead.
/// * **Dedup key**: a digest of the body. One delivery carries a batch of `events`, each with
///   its own signed `webhookEventId` (a ULID); a redelivery sets
///   `deliveryContext.isRedelivery` to `true`, so its body — and its digest — differs from the
///   first attempt's. Deduplicate events inside your handler on `webhookEventId`.
/// * The console's "Verify" button sends a signed body with an empty `events` array: answer it
///   200 like any delivery.
/// * Stricter than the Node SDK, which decodes the header before comparing (so it accepts
///   base64url and trailing junk); like the Python SDK, only standard base64 is accepted (padded
///   or not), and the comparison is constant-time over the decoded bytes.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Line;

impl Line {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Line {
    fn name(&self) -> &str {
        "line"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
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
