//! Mailgun (signature fields inside the body).
//!
//! Source: documentation.mailgun.com "Securing Webhooks"
//! (`/docs/mailgun/user-manual/webhooks/securing-webhooks`) and "Webhook retries";
//! `mailgun/mailgun-go` `webhooks.go` (`VerifyWebhookSignature`); `mailgun/mailgun-php`
//! `src/Api/Webhook.php` (`verifyWebhookSignature`).

use std::borrow::Cow;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};

use super::{
    Draft, JsonLeaf, Parsed, Request, Scheme, SignContent, SignedRequest, Timestamp, Tolerance,
    canonical_digits, form_field, header_str, is_json_object, json_path, json_str,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

/// How old a Mailgun timestamp may be by default: Mailgun retries a failed delivery for about
/// 8 hours (10 min, 10 min, 15 min, 30 min, 1 h, 2 h, 4 h), plus an hour of slack.
const PAST_TOLERANCE: Duration = Duration::from_secs(9 * 3600);

/// [Mailgun](https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks):
/// the signature travels **in the body**, `{"signature": {"timestamp", "token", "signature"},
/// "event-data": {…}}` (or as form fields `timestamp`, `token`, `signature` in legacy webhooks and
/// route forwards); `signature` is the hex HMAC-SHA256 of `{timestamp}{token}` (no separator)
/// keyed with the **Webhook Signing Key** text (not the API key).
///
/// * **Mailgun does not sign the event data.** Only the timestamp and the token are covered: a
///   captured request's `event-data` can be altered and sent again while its timestamp is within
///   the tolerance. The dedup key is therefore the signed `signature.token`, so each signed token
///   is processed once, whatever event data comes with it — a tampered copy sent after the
///   original was processed is a duplicate. Nothing protects a delivery whose first copy was not
///   processed; treat Mailgun event data as a hint and fetch what matters from Mailgun's API.
///   `event-data.id` is **not** used: it is not signed.
/// * Tolerance: 9 hours in the past, 5 minutes in the future. Mailgun documents no window
///   ("check if the timestamp is not too far from the current time") and retries a delivery it
///   could not hand over for about 8 hours; retries reportedly resend the first attempt's
///   signature block (Mailgun's docs do not say), so a 5-minute window would refuse every retry
///   and lose the event. Replays stay refused — the receiver remembers tokens for the whole
///   window — but a delivery that was never processed can have its event data altered for that
///   long. Narrow it with [`tolerance_past`](crate::VerifierBuilder::tolerance_past) if that
///   matters more to you than Mailgun's retries.
/// * The timestamp is canonical Unix seconds (a JSON string, or a number); the token must be
///   non-empty; `signature` must be 64 hex digits. Anything else is a malformed body.
/// * Subaccounts: `signature.parent-signature`, made with the primary account's key, is accepted
///   as a second signature, so the primary account's key verifies events of every subaccount.
/// * A JSON object body is read as JSON; any other body as `application/x-www-form-urlencoded`.
///   `multipart/form-data` posts (routes forwarding messages with attachments) are refused.
/// * Mailgun's SDKs check no time at all (its PHP docs sample allows 15 seconds); this crate
///   checks both directions and compares in constant time.
///
/// ```
/// use webhook_receiver::{DedupKey, Verifier, providers::Mailgun, testing::Signer};
///
/// // The signer wraps the event data in Mailgun's body, signature block included.
/// let signed = Signer::new(Mailgun::new(), "webhook_signing_key")?
///     .id("a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0")
///     .sign_request(br#"{"event":"opened","id":"DACSsAdVSeGpLid7TN03WA"}"#)?;
///
/// let verifier = Verifier::builder(Mailgun::new()).secret("webhook_signing_key").build()?;
/// let verified = verifier.verify(&signed.headers, &signed.body)?;
/// assert_eq!(
///     verified.dedup_key(),
///     DedupKey::EventId("a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0".into())
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Mailgun;

impl Mailgun {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

fn malformed(reason: &'static str) -> VerifyError {
    VerifyError::MalformedBody { reason }
}

/// A signature field: 64 hex digits, or a malformed body.
fn hex_signature<'a>(
    text: Cow<'a, str>,
    reason: &'static str,
) -> Result<Cow<'a, str>, VerifyError> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(text)
    } else {
        Err(malformed(reason))
    }
}

impl Scheme for Mailgun {
    fn name(&self) -> &str {
        "mailgun"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn default_tolerance(&self) -> Tolerance {
        Tolerance::new(PAST_TOLERANCE, Duration::from_secs(300))
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let body = request.body;
        let (timestamp, token, signature, parent) = if is_json_object(body) {
            (
                json_path(body, &["signature", "timestamp"]).map(JsonLeaf::into_text),
                json_str(body, &["signature", "token"]),
                json_str(body, &["signature", "signature"]),
                json_str(body, &["signature", "parent-signature"]),
            )
        } else {
            if let Some(kind) = header_str(request.headers, &CONTENT_TYPE)?
                && kind
                    .get(..10)
                    .is_some_and(|p| p.eq_ignore_ascii_case("multipart/"))
            {
                return Err(malformed(
                    "multipart Mailgun posts are not supported: use JSON webhooks",
                ));
            }
            (
                form_field(body, "timestamp"),
                form_field(body, "token"),
                form_field(body, "signature"),
                form_field(body, "parent-signature"),
            )
        };
        let (Some(timestamp), Some(token), Some(signature)) = (timestamp, token, signature) else {
            return Err(malformed(
                "no Mailgun signature (`timestamp`, `token` and `signature`) in the body",
            ));
        };
        let seconds = canonical_digits(&timestamp, 15).ok_or_else(|| {
            malformed("the Mailgun `timestamp` is not a canonical integer of seconds")
        })?;
        if token.is_empty() {
            return Err(malformed("the Mailgun `token` is empty"));
        }
        let signature = hex_signature(signature, "the Mailgun `signature` is not 64 hex digits")?;
        let parent = parent
            .filter(|p| !p.is_empty())
            .map(|p| hex_signature(p, "the Mailgun `parent-signature` is not 64 hex digits"))
            .transpose()?;

        let mut content = Vec::with_capacity(timestamp.len() + token.len());
        content.extend_from_slice(timestamp.as_bytes());
        content.extend_from_slice(token.as_bytes());
        let mut parsed = Parsed::new(Algorithm::HmacSha256)
            .with_timestamp(Timestamp::new(seconds * 1000, timestamp))
            .with_id(token);
        parsed.push_signature(signature);
        if let Some(parent) = parent {
            parsed.push_signature(parent);
        }
        parsed.push_content(content);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        _request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        // `parse` always builds the content; this serves callers that did not parse.
        feed(parsed.timestamp.as_ref().map_or("", |t| &t.text).as_bytes());
        feed(parsed.id.as_deref().unwrap_or_default().as_bytes());
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        _signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        // The signature goes in the body (see `sign`).
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(())
    }

    /// Wraps the draft's body, which must be JSON, as `event-data`, with the draft's id as the
    /// token.
    fn sign(
        &self,
        draft: &Draft<'_>,
        signer: &mut dyn SignContent,
        out: &mut SignedRequest,
    ) -> Result<(), ConfigError> {
        if serde_json::from_slice::<serde::de::IgnoredAny>(draft.body).is_err() {
            return Err(ConfigError::invalid(
                "body",
                "Mailgun's event data must be JSON",
            ));
        }
        if draft.id.is_empty() {
            return Err(ConfigError::invalid(
                "id",
                "Mailgun's token cannot be empty",
            ));
        }
        let timestamp = self.format_timestamp(draft.timestamp_millis);
        let signature = signer.sign(draft.algorithm, &mut |feed| {
            feed(timestamp.as_bytes());
            feed(draft.id.as_bytes());
        })?;
        let signature_block = serde_json::json!({
            "timestamp": timestamp,
            "token": draft.id,
            "signature": signature,
        });
        let mut body = format!(r#"{{"signature":{signature_block},"event-data":"#).into_bytes();
        body.extend_from_slice(draft.body);
        body.push(b'}');
        out.body = body;
        self.write_headers(&Parsed::new(draft.algorithm), &signature, &mut out.headers)
    }
}
