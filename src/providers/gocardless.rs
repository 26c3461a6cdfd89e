//! GoCardless (`Webhook-Signature`, 498 on a bad signature).
//!
//! Source: `gocardless/gocardless-pro-python` `gocardless_pro/webhooks.py` (`parse`,
//! `parse_with_meta`, `_verify_signature`) and `tests/webhooks_test.py` @d5c83f3;
//! developer.gocardless.com "Staying up-to-date with webhooks" and the API reference on
//! webhooks.

use http::{HeaderMap, HeaderName, StatusCode};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// [GoCardless](https://developer.gocardless.com/getting-started/staying-up-to-date-with-webhooks):
/// `Webhook-Signature: <hex>`, HMAC-SHA256 of the raw body keyed with the webhook endpoint's
/// secret, verbatim ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
///
/// * **498 for a bad signature.** GoCardless requires "Webhooks with an invalid signature must
///   return a 498 Token Invalid error": every verification failure — a signature that does
///   not match, and a missing or malformed `Webhook-Signature` — is answered 498
///   ([`reject_status`](Scheme::reject_status)); only a body over the limit keeps its 413.
/// * Answer **204** to events of a type you do not handle (GoCardless may add new ones): that
///   is your handler's answer, not a verification outcome.
/// * **Batches**: one request carries `{"events": [...], "meta": {"webhook_id": "WB…"}}`,
///   several unrelated events, possibly out of order. The **delivery** is deduplicated, by the
///   MAC of its body (a resend of the same webhook has the same body, and so the same key);
///   make the handler idempotent on each `events[].id` (`EV…`) as well, since an event may
///   arrive again in another webhook.
/// * **No timestamp** is signed: the [`Receiver`](crate::Receiver) remembers deliveries for a
///   long retention.
/// * **Signature text**: exactly 64 lowercase hex digits, as the Python SDK requires (it
///   compares the header with `hexdigest()` as text); the Node SDK decodes the header first,
///   letting uppercase hex and trailing junk pass — the stricter SDK wins, so those are
///   malformed here. Comparison is constant-time over the decoded bytes.
/// * The header has the Standard Webhooks name `webhook-signature` but carries bare hex and
///   comes without `webhook-id` or `webhook-timestamp`: use this scheme, not
///   [`StandardWebhooks`](super::StandardWebhooks).
/// * An `Origin` header (`https://api.gocardless.com`, or `https://api-sandbox.gocardless.com`)
///   names the environment; it is not signed, so it is not checked: use one secret per
///   environment.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct GoCardless;

impl GoCardless {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

/// 498 Token Invalid, which GoCardless requires for a webhook with an invalid signature.
fn token_invalid() -> StatusCode {
    // 498 is inside the range `StatusCode` accepts, so this never falls back.
    StatusCode::from_u16(498).unwrap_or(StatusCode::UNAUTHORIZED)
}

impl Scheme for GoCardless {
    fn name(&self) -> &str {
        "gocardless"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn reject_status(&self, error: &VerifyError) -> StatusCode {
        match error {
            VerifyError::BodyTooLarge { .. } | VerifyError::NoPublicUrl => error.status(),
            _ => token_invalid(),
        }
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let signature = required_header(request.headers, &SIGNATURE)?;
        let lower_hex = signature.len() == 64
            && signature
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !lower_hex {
            return Err(VerifyError::malformed(
                &SIGNATURE,
                "not 64 lowercase hex digits",
            ));
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
        EventIdSource::None
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, SIGNATURE.clone(), signature)
    }
}
