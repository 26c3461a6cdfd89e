//! Discord interactions and webhook events (`X-Signature-Ed25519`).
//!
//! Source: `discord/discord-api-docs` `docs/interactions/overview.mdx` ("Validating Security
//! Request Headers") and `docs/events/webhook-events.mdx`; `discord/discord-interactions-js`
//! `src/index.ts` (`verifyKey`, `verifyKeyMiddleware`, `verifyWebhookEventMiddleware`).

use http::{HeaderMap, HeaderName};
use serde::de::IgnoredAny;

use super::{
    EventIdSource, Parsed, Request, Scheme, insert_header, is_json_object, parse_unix_seconds,
    scan_headers,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::KeyFormat;

static SIGNATURE: HeaderName = HeaderName::from_static("x-signature-ed25519");
static TIMESTAMP: HeaderName = HeaderName::from_static("x-signature-timestamp");

/// [Discord](https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers)
/// interactions and webhook events: `X-Signature-Ed25519: <hex>` and
/// `X-Signature-Timestamp: <unix seconds>`, an **Ed25519** signature (not an HMAC) over the
/// timestamp text followed by the raw body, with no separator.
///
/// * **Key**: the application's "Public Key" from the Developer Portal, 64 hex characters
///   ([`KeyFormat::Ed25519Hex`]); pass it to
///   [`public_key`](crate::VerifierBuilder::public_key). Weak (small-order) keys are refused.
/// * **Signature**: 128 hex characters (64 bytes), either case. The timestamp header is signed
///   as sent, and must be a canonical decimal number of seconds.
/// * **Answer 401 to a bad signature.** Discord sends deliberately invalid signatures to check
///   that the endpoint verifies, and removes endpoints that accept them. Every verification
///   failure of a Discord request — a signature that does not verify, but also a missing or
///   malformed signature header or timestamp — is answered 401
///   ([`reject_status`](Scheme::reject_status)), whatever shape Discord's probes take; the
///   error itself still says which it was, for the logs.
/// * **Tolerance**: Discord documents none and `discord-interactions-js` checks none; this
///   scheme applies **5 minutes each way as its own policy**, so a captured request cannot be
///   replayed later (set [`tolerance`](crate::VerifierBuilder::tolerance) to change it).
/// * **Dedup key**: the body's top-level `id` (the interaction id, signed with the body).
///   Webhook-event bodies have no top-level `id`; they are deduplicated by the signature's
///   digest of the signed content.
/// * **PING**: an interaction PING (body `type` 1) must be answered `200` with the JSON body
///   `{"type":1}` ([`Discord::ping_response`]); a webhook-event PING (body `type` 0) with `204`
///   and no body ([`Discord::is_webhook_event_ping`]). Check these only after verifying.
/// * The SDK decodes hex leniently (`"zz"` becomes a zero byte); this scheme refuses anything
///   that is not hex.
///
/// ```
/// use webhook_receiver::{Verifier, providers::Discord, testing::Signer};
///
/// let (signer, public_key) = Signer::generate(Discord::new())?;
/// let verifier = Verifier::builder(Discord::new()).public_key(&public_key).build()?;
/// let body = br#"{"id":"787053080478613555","token":"t","type":1,"version":1}"#;
/// let headers = signer.sign(body)?;
/// let verified = verifier.verify(&headers, body)?;
/// assert_eq!(verified.event_id().as_deref(), Some("787053080478613555"));
/// assert_eq!(Discord::ping_response(body), Some(r#"{"type":1}"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Discord;

impl Discord {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }

    /// The answer to an interaction PING, `{"type":1}` (a PONG, to send with status 200 and
    /// `Content-Type: application/json`), when the verified `body` is one; `None` otherwise.
    ///
    /// An interaction PING is a JSON object whose `type` is 1 and that carries the interaction
    /// `token`. A webhook-event body (type 1 is an event there) has an `event` and no `token`,
    /// so it is never mistaken for a PING and dropped.
    pub fn ping_response(body: &[u8]) -> Option<&'static str> {
        let top = Top::read(body)?;
        (top.kind == Some(1) && top.token.is_some() && top.event.is_none())
            .then_some(r#"{"type":1}"#)
    }

    /// Whether the verified `body` is a webhook-event PING (`type` 0), which Discord sends to
    /// check the Webhook Events URL; answer it `204 No Content`.
    pub fn is_webhook_event_ping(body: &[u8]) -> bool {
        Top::read(body).is_some_and(|top| top.kind == Some(0))
    }
}

/// The top-level fields that tell a PING apart; every other field is skipped.
#[derive(serde::Deserialize)]
struct Top {
    #[serde(rename = "type")]
    kind: Option<i64>,
    token: Option<IgnoredAny>,
    event: Option<IgnoredAny>,
}

impl Top {
    /// The fields of a JSON object body; `None` if it is not one (or repeats a field).
    fn read(body: &[u8]) -> Option<Self> {
        // A derived struct would also accept a JSON array.
        if !is_json_object(body) {
            return None;
        }
        serde_json::from_slice(body).ok()
    }
}

impl Scheme for Discord {
    fn reject_status(&self, error: &VerifyError) -> http::StatusCode {
        match error {
            VerifyError::BodyTooLarge { .. } | VerifyError::NoPublicUrl => error.status(),
            _ => http::StatusCode::UNAUTHORIZED,
        }
    }

    fn name(&self) -> &str {
        "discord"
    }

    fn key_format(&self) -> KeyFormat {
        KeyFormat::Ed25519Hex
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
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
        feed(request.body);
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::Json(&["id"])
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
