//! Airwallex (`x-signature` over `{x-timestamp}{body}`).
//!
//! Source: airwallex.com/docs/developer-tools/webhooks/listen-for-webhook-events (delivery
//! headers, "Check webhook signatures"), its code-examples page (the Java controller), and
//! /webhooks/webhooks-overview (retries, duplicates, the stable `id`). Airwallex publishes no
//! SDK that verifies.

use http::{HeaderMap, HeaderName};

use super::{
    EventIdSource, Parsed, Request, Scheme, insert_header, parse_unix_millis, scan_headers,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-signature");
static TIMESTAMP: HeaderName = HeaderName::from_static("x-timestamp");

/// [Airwallex](https://www.airwallex.com/docs/developer-tools/webhooks/listen-for-webhook-events):
/// `x-signature: <hex>` and `x-timestamp: <Unix milliseconds>`, HMAC-SHA256 over the timestamp
/// text followed directly by the raw body (**no separator**).
///
/// * **Key**: the webhook endpoint's secret from the web app, used verbatim
///   ([`KeyFormat::Raw`](crate::KeyFormat::Raw)); each endpoint has its own.
/// * **Milliseconds**: Airwallex's docs give the timestamp as a "Long type timestamp, such as
///   1357872222592"; it must be a canonical integer of milliseconds and is signed as sent.
/// * **Tolerance**: Airwallex documents none and its example checks none; this scheme applies
///   **5 minutes each way as its own policy**, so a captured request cannot be replayed later.
///   Airwallex retries for about three days; should your endpoint refuse re-sent or
///   re-triggered events as too old, widen
///   [`tolerance_past`](crate::VerifierBuilder::tolerance_past) — the dedup key below keeps a
///   wider window safe.
/// * **Dedup key**: the body's top-level `id`, the event id Airwallex tells receivers to
///   deduplicate on ("unchanged for the same event across retries"), covered by the signature.
///   A body without one is deduplicated by its MAC.
/// * Comparison is constant-time over the decoded bytes, hex in either case (Airwallex's Java
///   example compares the hex text with `equals`).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Airwallex;

impl Airwallex {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Airwallex {
    fn name(&self) -> &str {
        "airwallex"
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
        feed(request.body);
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::Json(&["id"])
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
