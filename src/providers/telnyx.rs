//! Telnyx API v2 webhooks (`telnyx-signature-ed25519` over `{telnyx-timestamp}|{body}`).
//!
//! Source: developers.telnyx.com/docs/development/api-fundamentals/webhooks (and the
//! per-callback API reference); `team-telnyx/telnyx-python`
//! `src/telnyx/lib/webhook_verification.py` (`verify_webhook_signature`,
//! `TIMESTAMP_TOLERANCE_SECONDS`) and `src/telnyx/lib/webhooks_ed25519.py`
//! @6d68c8ca0036ba28c3406cca742f3d4939a4e58c.

use http::{HeaderMap, HeaderName};

use super::{
    EventIdSource, Parsed, Request, Scheme, insert_header, parse_unix_seconds, scan_headers,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::KeyFormat;

static SIGNATURE: HeaderName = HeaderName::from_static("telnyx-signature-ed25519");
static TIMESTAMP: HeaderName = HeaderName::from_static("telnyx-timestamp");

/// [Telnyx](https://developers.telnyx.com/docs/development/api-fundamentals/webhooks) API v2
/// webhooks: `telnyx-signature-ed25519: <base64>` and `telnyx-timestamp: <Unix seconds>`, an
/// **Ed25519** signature (not an HMAC) over `{timestamp}|{body}` — the timestamp text, a
/// **pipe**, the raw body.
///
/// * **Key**: the account's public key from the Mission Control portal (Keys & Credentials →
///   Public Key), base64 of 32 bytes ([`KeyFormat::Ed25519Base64`]); pass it to
///   [`public_key`](crate::VerifierBuilder::public_key). It is a public key, not a secret. Weak
///   (small-order) keys are refused.
/// * **Signature**: base64 of 64 bytes (padded or not).
/// * **Tolerance**: 5 minutes **each way**, as Telnyx's SDKs enforce (`abs(now - ts) > 300` is
///   refused).
/// * **Stricter than the Python SDK**: it parses the timestamp with `int()` (so `+1…`, `1_…` and
///   surrounding spaces pass) and decodes base64 leniently; here the timestamp must be a
///   canonical integer of seconds and the signature standard base64.
/// * **Dedup key**: the body's `data.id`, the event's id, covered by the signature. Telnyx warns
///   that events may be duplicated, delayed or out of order; a retry's body also changes
///   (`meta.attempt`), so the id — not a digest — recognises it. A body without `data.id` is
///   deduplicated by the digest of its signature.
/// * A non-2xx answer makes Telnyx try the webhook's **failover URL**; answer 2xx only once the
///   event is handled or durably stored.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Telnyx;

impl Telnyx {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Telnyx {
    fn name(&self) -> &str {
        "telnyx"
    }

    fn key_format(&self) -> KeyFormat {
        KeyFormat::Ed25519Base64
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn algorithms(&self) -> &[Algorithm] {
        &[Algorithm::Ed25519]
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let [signature, timestamp] = scan_headers(request.headers, [&SIGNATURE, &TIMESTAMP])?;
        let signature = signature.ok_or_else(|| VerifyError::missing(&SIGNATURE))?;
        let timestamp = timestamp.ok_or_else(|| VerifyError::missing(&TIMESTAMP))?;
        let mut parsed = Parsed::new(Algorithm::Ed25519)
            .with_signature_header(&SIGNATURE)
            .with_timestamp(parse_unix_seconds(&TIMESTAMP, timestamp)?);
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
        feed(b"|");
        feed(request.body);
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::Json(&["data", "id"])
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
