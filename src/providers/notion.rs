//! Notion webhooks (`X-Notion-Signature: sha256=…`) and the subscription's verification
//! request.
//!
//! Source: `makenotion/notion-sdk-js` `src/webhooks.ts` (`verifyWebhookSignature`,
//! `signWebhookPayload`), `test/webhooks.test.ts` and `README.md` ("Verifying webhook
//! signatures") @9060802; developers.notion.com "Webhooks" and "Event types & delivery".

use http::{HeaderMap, HeaderName};
use serde::de::IgnoredAny;

use super::{
    EventIdSource, Parsed, Request, Scheme, insert_header, is_json_object, required_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-notion-signature");

/// The longest verification token [`Notion::verification_token`] returns.
const MAX_TOKEN: usize = 1024;

/// [Notion](https://developers.notion.com/reference/webhooks) webhooks:
/// `X-Notion-Signature: sha256=<hex>`, HMAC-SHA256 of the raw body keyed with the
/// subscription's **verification token**, verbatim ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
///
/// * **Setup**: when a subscription is created, Notion POSTs `{"verification_token": "…"}`
///   once; you paste that token into the Notion UI to activate the subscription, and it then
///   keys every signature. That request cannot be verified before you know the token: route it
///   with [`Notion::verification_token`] before verification.
/// * **Signature**: the `sha256=` prefix is required, followed by exactly 64 hex digits in
///   either case, as in Notion's SDK (which lowercases them); anything else is malformed.
/// * **No timestamp** is signed (the body's `timestamp` is when the event happened): the
///   [`Receiver`](crate::Receiver) remembers deliveries for a long retention.
/// * **Dedup key**: the body's top-level `id`, the event id, which the signature covers. Each
///   retry carries a higher `attempt_number` (1 to 8), so its body and MAC differ; the id does
///   not. A body without `id` is deduplicated by its MAC.
/// * Comparison is constant-time over the decoded bytes.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Notion;

impl Notion {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }

    /// The verification token of Notion's subscription verification request — a JSON object
    /// body with a string `verification_token` and no event `type` — or `None` for any other
    /// body (an event, or a token that is empty, longer than 1024 bytes or not visible ASCII).
    ///
    /// **Unauthenticated**: anyone can send such a request (Notion's SDK says it is signed with
    /// the token it carries, which proves nothing). Answer it 200 and show the token to an
    /// operator, who pastes it into the Notion UI — only the token Notion really sent
    /// activates the subscription. Never adopt it as the verifier's key automatically, and
    /// keep it out of shared logs: it becomes the signing secret.
    ///
    /// ```
    /// use webhook_receiver::providers::Notion;
    ///
    /// let body = br#"{"verification_token":"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}"#;
    /// assert_eq!(
    ///     Notion::verification_token(body).as_deref(),
    ///     Some("secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl")
    /// );
    /// assert_eq!(Notion::verification_token(br#"{"id":"e1","type":"page.created"}"#), None);
    /// ```
    pub fn verification_token(body: &[u8]) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct Handshake {
            verification_token: String,
            #[serde(rename = "type")]
            kind: Option<IgnoredAny>,
        }
        if !is_json_object(body) {
            return None;
        }
        let handshake: Handshake = serde_json::from_slice(body).ok()?;
        let token = handshake.verification_token;
        let valid = handshake.kind.is_none()
            && !token.is_empty()
            && token.len() <= MAX_TOKEN
            && token.bytes().all(|b| b.is_ascii_graphic());
        valid.then_some(token)
    }
}

impl Scheme for Notion {
    fn name(&self) -> &str {
        "notion"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let value = required_header(request.headers, &SIGNATURE)?;
        let Some(signature) = value.strip_prefix("sha256=") else {
            return Err(VerifyError::malformed(
                &SIGNATURE,
                "missing the `sha256=` prefix",
            ));
        };
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(VerifyError::malformed(&SIGNATURE, "not 64 hex digits"));
        }
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
        EventIdSource::Json(&["id"])
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, SIGNATURE.clone(), &format!("sha256={signature}"))
    }
}
