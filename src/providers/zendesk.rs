//! Zendesk webhooks (`X-Zendesk-Webhook-Signature` over `{timestamp}{body}`).
//!
//! Source: developer.zendesk.com/documentation/webhooks/verifying/ (current),
//! /documentation/event-connectors/webhooks/verifying/ (older, contradicting), and
//! /documentation/webhooks/anatomy-of-a-webhook-request. Zendesk publishes no SDK that verifies.

use http::{HeaderMap, HeaderName};

use super::{
    EventIdSource, Parsed, Request, Scheme, format_rfc3339, insert_header, parse_rfc3339,
    scan_headers,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-zendesk-webhook-signature");
static TIMESTAMP: HeaderName = HeaderName::from_static("x-zendesk-webhook-signature-timestamp");

/// [Zendesk](https://developer.zendesk.com/documentation/webhooks/verifying/) webhooks:
/// `X-Zendesk-Webhook-Signature: <base64>` and
/// `X-Zendesk-Webhook-Signature-Timestamp: <RFC 3339>`, HMAC-SHA256 over the timestamp text
/// followed directly by the raw body (`base64(HMACSHA256(TIMESTAMP + BODY))`, no separator).
///
/// * **Order trap**: an older Zendesk page (event connectors) states the reverse,
///   `(BODY)(TIMESTAMP)`, and its worked example only reproduces in that order. This scheme
///   follows the current page, timestamp first; a body-then-timestamp signature does not verify.
/// * **Key**: the webhook's signing secret (from the webhook's page or its API), used verbatim
///   ([`KeyFormat::Raw`](crate::KeyFormat::Raw)) **although it looks like base64**: it is not
///   decoded.
/// * **No body**: trigger and automation webhooks may use GET or DELETE without a body; the
///   signed content is then the timestamp alone, which verifies as such.
/// * **Timestamp**: RFC 3339 (`2021-03-25T05:09:27Z`), signed as sent. Zendesk documents no
///   window; this scheme applies **5 minutes each way as its own policy**.
/// * **Dedup key**: a digest of the signed timestamp and body. The `x-zendesk-webhook-id` and
///   `x-zendesk-webhook-invocation-id` headers are **not signed** (a replay could change them),
///   and trigger payloads are whatever the trigger's template says, so no body field can be
///   trusted to identify a delivery.
/// * Verification is optional on Zendesk's side, but every webhook is signed; basic or bearer
///   authentication configured on the webhook comes in addition and is not checked here.
/// * Comparison is constant-time over the decoded bytes.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Zendesk;

impl Zendesk {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Zendesk {
    fn name(&self) -> &str {
        "zendesk"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let [signature, timestamp] = scan_headers(request.headers, [&SIGNATURE, &TIMESTAMP])?;
        let signature = signature.ok_or_else(|| VerifyError::missing(&SIGNATURE))?;
        let timestamp = timestamp.ok_or_else(|| VerifyError::missing(&TIMESTAMP))?;
        let mut parsed = Parsed::new(Algorithm::HmacSha256)
            .with_signature_header(&SIGNATURE)
            .with_timestamp(parse_rfc3339(&TIMESTAMP, timestamp)?);
        parsed.push_signature(signature);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        feed(parsed.timestamp.as_ref().map_or("", |t| &t.text).as_bytes());
        feed(request.body);
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::None
    }

    fn format_timestamp(&self, unix_millis: i64) -> String {
        format_rfc3339(unix_millis)
    }

    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, SIGNATURE.clone(), signature)?;
        insert_header(
            headers,
            TIMESTAMP.clone(),
            parsed.timestamp.as_ref().map_or("", |t| &t.text),
        )
    }
}
