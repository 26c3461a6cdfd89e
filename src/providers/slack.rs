//! Slack (`X-Slack-Signature: v0=…`).
//!
//! Source: Slack docs, "Verifying requests from Slack"; `slackapi/python-slack-sdk`
//! `slack_sdk/signature/__init__.py`.

use http::{HeaderMap, HeaderName};

use super::{
    EventIdSource, Parsed, Request, Scheme, insert_header, parse_unix_seconds, required_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static TIMESTAMP: HeaderName = HeaderName::from_static("x-slack-request-timestamp");
static SIGNATURE: HeaderName = HeaderName::from_static("x-slack-signature");

/// [Slack](https://api.slack.com/authentication/verifying-requests-from-slack):
/// `X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 over
/// `v0:{timestamp}:{body}` keyed with the signing secret text.
///
/// * The timestamp is checked in both directions (Slack's SDK uses `abs(now - ts) > 300`).
/// * The dedup key is the Events API body's `event_id` when present (retries are re-signed with
///   a new timestamp but keep it); other payloads (slash commands, interactivity) are
///   deduplicated by their MAC.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Slack;

impl Slack {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Slack {
    fn name(&self) -> &str {
        "slack"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let headers = request.headers;
        let timestamp = parse_unix_seconds(&TIMESTAMP, required_header(headers, &TIMESTAMP)?)?;
        let value = required_header(headers, &SIGNATURE)?;
        let Some(signature) = value.strip_prefix("v0=") else {
            return Err(VerifyError::malformed(
                &SIGNATURE,
                "missing the `v0=` prefix",
            ));
        };
        let mut parsed = Parsed::new(Algorithm::HmacSha256)
            .with_signature_header(&SIGNATURE)
            .with_timestamp(timestamp);
        parsed.push_signature(signature);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        feed(b"v0:");
        feed(parsed.timestamp.as_ref().map_or("", |t| &t.text).as_bytes());
        feed(b":");
        feed(request.body);
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::Json(&["event_id"])
    }

    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(
            headers,
            TIMESTAMP.clone(),
            parsed.timestamp.as_ref().map_or("", |t| &t.text),
        )?;
        insert_header(headers, SIGNATURE.clone(), &format!("v0={signature}"))
    }
}
