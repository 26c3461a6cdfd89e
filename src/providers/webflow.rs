//! Webflow (`x-webflow-signature` over `{x-webflow-timestamp}:{body}`).
//!
//! Source: developers.webflow.com/data/docs/working-with-webhooks ("Validating request
//! signatures"), /data/v1.0.0/docs/verifying-webhook-signatures, the changelogs
//! /data/changelog/webhook-signatures and /webhook-retries; `webflow/js-webflow-api`
//! `src/wrapper/WebhooksClient.ts` (`verifySignature`) @31e9cf381301cb8c5ebd112a72394ebc59a2aaf0.

use http::{HeaderMap, HeaderName};

use super::{
    EventIdSource, Parsed, Request, Scheme, insert_header, parse_unix_millis, scan_headers,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-webflow-signature");
static TIMESTAMP: HeaderName = HeaderName::from_static("x-webflow-timestamp");

/// [Webflow](https://developers.webflow.com/data/docs/working-with-webhooks):
/// `x-webflow-signature: <hex>` and `x-webflow-timestamp: <Unix milliseconds>`, HMAC-SHA256 over
/// `{timestamp}:{body}` — the timestamp text, a **colon**, the raw body.
///
/// * **Key**: the OAuth application's client secret, or the secret returned when the webhook was
///   created through the API, used verbatim ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
///   Webhooks created in the site dashboard or with a site API key are **not signed** and are
///   refused (no signature header).
/// * **Milliseconds**: the timestamp (`1663849649733`) is a canonical integer of milliseconds,
///   signed as sent.
/// * **Tolerance**: 5 minutes in the past, as Webflow's docs require; Webflow documents no
///   future bound, and this crate refuses timestamps more than 5 minutes ahead (its policy for
///   clock skew).
/// * **Stricter than the SDK**: `verifySignature` checks no timestamp at all and compares hex
///   strings with `===`; its example even signs `JSON.stringify(req.body)` instead of the raw
///   body. Here the window is enforced, the raw body is what is verified, and the comparison is
///   constant-time over the decoded bytes (hex in either case).
/// * **Dedup key**: a digest of the signed timestamp and body. Webflow documents no delivery or
///   event id (payloads name the site, form or item the event is about, which recur across
///   events); each retry (at most 3 attempts) is signed anew, so its digest differs — key your
///   processing on the payload's own fields where a double run matters.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Webflow;

impl Webflow {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Webflow {
    fn name(&self) -> &str {
        "webflow"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
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
            .with_timestamp(parse_unix_millis(&TIMESTAMP, timestamp)?);
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
        feed(b":");
        feed(request.body);
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::None
    }

    fn format_timestamp(&self, unix_millis: i64) -> String {
        unix_millis.to_string()
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
