//! Recurly (`recurly-signature: <ms>,<hex>[,<hex>…]`).
//!
//! Source: docs.recurly.com/recurly-subscriptions/docs/signature-verification and
//! /automatic-retries; `recurly/recurly-client-go` `webhook.go` (`VerifyWebhookSignature`,
//! `DEFAULT_WEBHOOK_TOLERANCE`) and `webhook_test.go` @e35e39075944ba9131ad0427bbeb1f2964103d60.

use http::{HeaderMap, HeaderName};

use super::{
    EventIdSource, Parsed, Request, Scheme, insert_header, parse_unix_millis, required_header,
    split_byte,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("recurly-signature");

/// [Recurly](https://docs.recurly.com/recurly-subscriptions/docs/signature-verification):
/// `recurly-signature: <Unix ms>,<hex>[,<hex>…]` — the timestamp in **milliseconds**, then one
/// HMAC-SHA256 in hex per active key, each over `{timestamp}.{body}`.
///
/// * **Key trap**: the endpoint's secret key (Integrations → Webhooks → the endpoint) looks like
///   64 hex digits but is used **verbatim as text** ([`KeyFormat::Raw`](crate::KeyFormat::Raw)),
///   never hex-decoded — as in Recurly's Go client and its test key.
/// * **Signatures**: any of the comma-separated signatures may match (Recurly sends one per
///   active key while keys rotate). Spaces around items are tolerated and empty items skipped;
///   an item that is not hex, or the absence of any signature, is malformed.
/// * **Only JSON webhooks are signed.** XML webhook endpoints get no `recurly-signature` and are
///   refused (missing header): switch the endpoint to JSON.
/// * **Tolerance**: 5 minutes in the past, Recurly's default (`DEFAULT_WEBHOOK_TOLERANCE`).
///   Recurly's client accepts any timestamp in the future; this crate refuses one more than
///   5 minutes ahead (its policy for clock skew). The timestamp must be a canonical integer of
///   milliseconds and is signed as sent.
/// * **Dedup key**: the body's top-level `id`, the notification's id (the object it is about
///   has its own fields: `account_code`, `uuid`), covered by the signature. A body without one
///   is deduplicated by its MAC. Recurly retries a failed notification up to 10 times over about
///   73 hours, each attempt signed anew.
/// * Recurly does not follow redirects and counts only 2xx answers as delivered.
/// * Comparison is constant-time over the decoded bytes, as in the Go client (`hmac.Equal`).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Recurly;

impl Recurly {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Recurly {
    fn name(&self) -> &str {
        "recurly"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let name = &SIGNATURE;
        let value = required_header(request.headers, name)?;
        let mut items = split_byte(value, b',');
        // `split_byte` yields at least one item.
        let timestamp = parse_unix_millis(name, items.next().unwrap_or("").trim_ascii())?;
        let mut parsed = Parsed::new(Algorithm::HmacSha256).with_signature_header(name);
        for item in items {
            let item = item.trim_ascii();
            if item.is_empty() {
                continue;
            }
            if !parsed.push_signature(item) {
                return Err(VerifyError::malformed(name, "too many signatures"));
            }
        }
        if parsed.signature_count() == 0 {
            return Err(VerifyError::malformed(
                name,
                "no signature after the timestamp",
            ));
        }
        Ok(parsed.with_timestamp(timestamp))
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        feed(parsed.timestamp.as_ref().map_or("", |t| &t.text).as_bytes());
        feed(b".");
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
        let ts = parsed.timestamp.as_ref().map_or("", |t| &t.text);
        insert_header(headers, SIGNATURE.clone(), &format!("{ts},{signature}"))
    }
}
