//! SendGrid Event Webhook (`X-Twilio-Email-Event-Webhook-Signature`, ECDSA P-256).
//!
//! Source: `sendgrid/sendgrid-nodejs` `packages/eventwebhook/src/eventwebhook.js` and its spec;
//! `sendgrid/sendgrid-python` `sendgrid/helpers/eventwebhook/__init__.py`; Twilio docs,
//! "Getting Started with the Event Webhook Security Features".

use http::{HeaderMap, HeaderName};

use super::{
    EventIdSource, Parsed, Request, Scheme, insert_header, parse_unix_seconds, scan_headers,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::{Key, KeyFormat};

static SIGNATURE: HeaderName = HeaderName::from_static("x-twilio-email-event-webhook-signature");
static TIMESTAMP: HeaderName = HeaderName::from_static("x-twilio-email-event-webhook-timestamp");

/// [SendGrid Event Webhook](https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features):
/// `X-Twilio-Email-Event-Webhook-Signature: <base64>` and
/// `X-Twilio-Email-Event-Webhook-Timestamp: <unix seconds>`, an **ECDSA P-256 / SHA-256**
/// signature (base64 of its ASN.1 DER encoding) over the timestamp text followed by the raw
/// body, with no separator.
///
/// * **Key**: the verification key from Mail Settings → Event Webhook, base64 of the DER
///   `SubjectPublicKeyInfo` *without* PEM armour, as SendGrid shows it ([`KeyFormat::P256`]; the
///   same text in `PUBLIC KEY` armour is accepted too, on lines of any length). Pass it to
///   [`public_key`](crate::VerifierBuilder::public_key).
/// * **Exact bytes**: the body is a JSON array of events whose lines end in `\r\n`; any
///   re-serialisation (a JSON parser before verification, a proxy that normalises line endings)
///   breaks the signature.
/// * **Tolerance**: SendGrid documents none and its SDKs check none; this scheme applies
///   **5 minutes each way as its own policy**, so a captured delivery cannot be replayed later.
///   Widen [`tolerance_past`](crate::VerifierBuilder::tolerance_past) if your deliveries are
///   held up on the way.
/// * **Dedup key**: one delivery carries a batch of events and no signed delivery id, so the
///   delivery is deduplicated by the SHA-256 of its signed content (timestamp and body). A
///   delivery re-sent with a new timestamp is a new delivery to this key, and SendGrid documents
///   that events may arrive more than once: deduplicate **each event** by its `sg_event_id`
///   (signed with the body) where processing twice would matter.
/// * One signature per request; ECDSA signatures are not unique, so both `s` and `n − s` verify
///   (as in every SendGrid SDK).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct SendGrid;

impl SendGrid {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for SendGrid {
    fn name(&self) -> &str {
        "sendgrid"
    }

    fn key_format(&self) -> KeyFormat {
        KeyFormat::P256
    }

    /// Base64 DER as shown, or that text wrapped in `PUBLIC KEY` armour on lines of any length
    /// (SendGrid's Python SDK wraps the shown key so, on one line).
    fn parse_key(&self, text: &str) -> Result<Key, ConfigError> {
        let armoured = text
            .trim()
            .strip_prefix("-----BEGIN PUBLIC KEY-----")
            .and_then(|rest| rest.strip_suffix("-----END PUBLIC KEY-----"));
        Key::parse(KeyFormat::P256, armoured.unwrap_or(text))
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn algorithms(&self) -> &[Algorithm] {
        &[Algorithm::EcdsaP256Sha256]
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let [signature, timestamp] = scan_headers(request.headers, [&SIGNATURE, &TIMESTAMP])?;
        let signature = signature.ok_or_else(|| VerifyError::missing(&SIGNATURE))?;
        let timestamp = timestamp.ok_or_else(|| VerifyError::missing(&TIMESTAMP))?;
        let mut parsed = Parsed::new(Algorithm::EcdsaP256Sha256)
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
        insert_header(headers, SIGNATURE.clone(), signature)?;
        insert_header(
            headers,
            TIMESTAMP.clone(),
            parsed.timestamp.as_ref().map_or("", |t| &t.text),
        )
    }
}
