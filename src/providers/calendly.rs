//! Calendly (`Calendly-Webhook-Signature: t=…,v1=…`).
//!
//! Source: developer.calendly.com/api-docs/overview/webhooks/webhook-signatures, /webhook-errors
//! and /webhook-timeouts; developer.calendly.com/docs/webhooks/overview. Calendly publishes no
//! SDK that verifies.

use http::{HeaderMap, HeaderName};

use super::stripe::parse_t_v1;
use super::{EventIdSource, Parsed, Request, Scheme, insert_header};
use crate::encoding::Encoding;
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("calendly-webhook-signature");

/// [Calendly](https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures):
/// `Calendly-Webhook-Signature: t=<Unix seconds>,v1=<hex>`, HMAC-SHA256 over `{t}.{body}` — the
/// timestamp text, a dot, the raw body (Stripe's layout).
///
/// * **Key**: the webhook signing key, used verbatim
///   ([`KeyFormat::Raw`](crate::KeyFormat::Raw)). With personal access tokens it is the
///   `signing_key` you set when creating the subscription — optional, so **unsigned
///   subscriptions exist**, and they are refused here (no header); with an OAuth app it is the
///   key Calendly generated for the app. Calendly shows it only once: store it at creation.
/// * `t` must appear once, as a canonical integer of seconds, and is signed as sent; every
///   `v1` entry is a candidate; other entries are ignored. Spaces around items are tolerated.
/// * **Tolerance**: Calendly's page recommends rejecting stale timestamps without fixing a
///   window in what this crate could confirm; this scheme applies **5 minutes each way as its
///   own policy** (tighten with [`tolerance`](crate::VerifierBuilder::tolerance) if you follow
///   the 3 minutes some examples use).
/// * **Statuses**: only 2xx counts as delivered (redirects are failures) and Calendly retries
///   with exponential back-off for 24 hours, then disables the subscription. **Never answer
///   `410 Gone`** unless you mean it: Calendly **deletes the subscription** on a 410. This
///   crate's own rejections are 400, 401 and 413; make sure your handler does not return 410
///   for "not found" business cases.
/// * **Dedup key**: a digest of the signed timestamp and body. Calendly documents no delivery or
///   event id (the payload's URIs name the invitee or event, which recur across
///   `invitee.created` and `invitee.canceled`), and each retry is signed anew.
/// * Comparison is constant-time over the decoded bytes, hex in either case.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Calendly;

impl Calendly {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Calendly {
    fn name(&self) -> &str {
        "calendly"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        parse_t_v1(request, &SIGNATURE)
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
        EventIdSource::None
    }

    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        let t = parsed.timestamp.as_ref().map_or("", |t| &t.text);
        insert_header(headers, SIGNATURE.clone(), &format!("t={t},v1={signature}"))
    }
}
