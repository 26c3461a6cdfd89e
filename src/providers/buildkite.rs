//! Buildkite webhooks (`X-Buildkite-Signature: timestamp=…,signature=…`, or `X-Buildkite-Token`).
//!
//! Source: `buildkite/docs` `pages/apis/webhooks/_webhook_signature.md`,
//! `_verifying_hmac_signatures.md`, `_http_headers_token_or_signature.md`,
//! `_defending_against_replay_attacks.md` and `_webhook_token.md`
//! @35cf0294c6ea68f41d90da114120d73278f6fc0b. Buildkite publishes no SDK that verifies.

use http::{HeaderMap, HeaderName};

use super::{
    EventIdSource, Parsed, Request, Scheme, Timestamp, insert_header, key_values,
    parse_unix_seconds, required_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::{Key, KeyFormat};

static SIGNATURE: HeaderName = HeaderName::from_static("x-buildkite-signature");
static TOKEN: HeaderName = HeaderName::from_static("x-buildkite-token");

/// Which of its two headers a Buildkite webhook sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Signature,
    Token,
}

/// [Buildkite](https://buildkite.com/docs/apis/webhooks) webhooks. The webhook's **Token**
/// setting decides what Buildkite sends, and so which constructor to use:
///
/// * [`Buildkite::new`] — **signature** mode (recommended):
///   `X-Buildkite-Signature: timestamp=<Unix seconds>,signature=<hex>`, HMAC-SHA256 over
///   `{timestamp}.{body}` — the timestamp text, a dot, the raw body — keyed with the webhook's
///   token text.
/// * [`Buildkite::token`] — **token** mode: `X-Buildkite-Token: <token>`, the token itself,
///   compared in constant time. **This is not a signature**: it authenticates the sender but not
///   the body, and nothing stops a replay (see [`GitLab`](super::GitLab), which has the same
///   weakness). Switch the webhook to signatures where you can.
///
/// Each scheme accepts only its own header: a signature-mode verifier refuses a request that
/// carries only `X-Buildkite-Token` (missing `x-buildkite-signature`), so a configuration cannot
/// be downgraded to the token by the sender.
///
/// * **Key**: the token shown under "Token" in the Webhook Notification service, used verbatim
///   as the HMAC key in signature mode ([`KeyFormat::Raw`]); in token mode surrounding
///   whitespace is removed and a token that is not visible ASCII is refused when the verifier is
///   built (it cannot arrive intact in a header).
/// * **Signed content**: Buildkite's prose calls "the raw request body" the signed message, but
///   its own Ruby example and its replay-attack page sign — and say they sign —
///   `{timestamp}.{body}`; this scheme follows the example. `timestamp` and `signature` must
///   each appear once; other items are ignored, spaces around them tolerated.
/// * **Tolerance** (signature mode): the timestamp is when the request was dispatched, not the
///   event time. Buildkite suggests accepting "a short window (for example, 5 minutes)"; this
///   scheme applies 5 minutes each way. Token mode has no timestamp.
/// * **Dedup key**: a digest of the signed timestamp and body (signature mode) or of the body
///   (token mode). Buildkite documents no delivery id; key your processing on the payload's
///   `build.id` / `job.id` and event name where a double run matters.
/// * Comparison is constant-time over the decoded bytes (hex in either case).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Buildkite {
    mode: Mode,
}

impl Default for Buildkite {
    fn default() -> Self {
        Self::new()
    }
}

impl Buildkite {
    /// Signature mode: `X-Buildkite-Signature`, HMAC-SHA256 over `{timestamp}.{body}`.
    pub fn new() -> Self {
        Self {
            mode: Mode::Signature,
        }
    }

    /// Token mode: `X-Buildkite-Token`, the webhook's token compared as is. It does not cover
    /// the body and has no timestamp; prefer [`Buildkite::new`].
    ///
    /// ```
    /// use webhook_receiver::{Verifier, providers::Buildkite};
    /// use http::{HeaderMap, HeaderValue};
    ///
    /// let verifier = Verifier::builder(Buildkite::token()).secret("309c9c842g8565adecpd7469x6005989").build()?;
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-buildkite-token", HeaderValue::from_static("309c9c842g8565adecpd7469x6005989"));
    /// assert!(verifier.verify(&headers, br#"{"event":"ping"}"#).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn token() -> Self {
        Self { mode: Mode::Token }
    }
}

impl Scheme for Buildkite {
    fn name(&self) -> &str {
        "buildkite"
    }

    fn parse_key(&self, text: &str) -> Result<Key, ConfigError> {
        match self.mode {
            Mode::Signature => Key::parse(KeyFormat::Raw, text),
            Mode::Token => {
                let token = text.trim_ascii();
                if !token.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                    return Err(ConfigError::InvalidSecret {
                        label: None,
                        reason: "a Buildkite token must be visible ASCII (it is sent in a header)",
                    });
                }
                Key::parse(KeyFormat::Raw, token)
            }
        }
    }

    fn encoding(&self) -> Encoding {
        // A token is compared as text, never decoded.
        Encoding::Hex
    }

    fn algorithms(&self) -> &[Algorithm] {
        match self.mode {
            Mode::Signature => &[Algorithm::HmacSha256],
            Mode::Token => &[Algorithm::Token],
        }
    }

    fn has_timestamp(&self) -> bool {
        self.mode == Mode::Signature
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        if self.mode == Mode::Token {
            let token = required_header(request.headers, &TOKEN)?;
            let mut parsed = Parsed::new(Algorithm::Token).with_signature_header(&TOKEN);
            parsed.push_signature(token);
            return Ok(parsed);
        }
        let name = &SIGNATURE;
        let value = required_header(request.headers, name)?;
        let mut parsed = Parsed::new(Algorithm::HmacSha256).with_signature_header(name);
        let mut timestamp: Option<Timestamp<'r>> = None;
        key_values(name, value, b',', |key, val| {
            match key {
                "timestamp" if timestamp.is_some() => {
                    return Err(VerifyError::malformed(name, "`timestamp` is repeated"));
                }
                "timestamp" => timestamp = Some(parse_unix_seconds(name, val)?),
                "signature" if parsed.signature_count() > 0 => {
                    return Err(VerifyError::malformed(name, "`signature` is repeated"));
                }
                "signature" if val.is_empty() => {
                    return Err(VerifyError::malformed(name, "empty `signature`"));
                }
                "signature" => {
                    parsed.push_signature(val);
                }
                _ => {}
            }
            Ok(())
        })?;
        let Some(timestamp) = timestamp else {
            return Err(VerifyError::malformed(name, "no `timestamp=`"));
        };
        if parsed.signature_count() == 0 {
            return Err(VerifyError::malformed(name, "no `signature=`"));
        }
        Ok(parsed.with_timestamp(timestamp))
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        if self.mode == Mode::Token {
            // A token signs nothing.
            return;
        }
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
        match self.mode {
            Mode::Token => insert_header(headers, TOKEN.clone(), signature),
            Mode::Signature => {
                let ts = parsed.timestamp.as_ref().map_or("", |t| &t.text);
                insert_header(
                    headers,
                    SIGNATURE.clone(),
                    &format!("timestamp={ts},signature={signature}"),
                )
            }
        }
    }
}
