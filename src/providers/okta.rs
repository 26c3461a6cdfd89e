//! Okta event hooks (a shared secret in a header; the one-time verification challenge).
//!
//! Source: `okta/okta-developer-docs` `packages/@okta/vuepress-site/docs/concepts/event-hooks/index.md`
//! ("One-Time Verification Request", "HTTP Headers", "Security", "Timeout and Retry") and
//! `docs/guides/event-hook-implementation/main/nodejs/verification.md`; help.okta.com "Create an
//! event hook".

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, header_str, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::{Key, KeyFormat};

static CHALLENGE: HeaderName = HeaderName::from_static("x-okta-verification-challenge");

/// [Okta event hooks](https://developer.okta.com/docs/concepts/event-hooks/): Okta sends the
/// authentication value you registered with the hook, verbatim, in the header you registered
/// (`Authorization: <value>` by default); this scheme compares it, in constant time, with the
/// configured one.
///
/// # This is not a signature
///
/// Okta event hooks are **not signed**. The header is a password: it authenticates the sender,
/// not the body, and carries no timestamp.
///
/// * Anyone who sees one request (a proxy, a log that records headers) can send any body with
///   it until the value is changed. Use HTTPS only, never log the header, and treat the event
///   data as a hint: fetch what matters from Okta's API.
/// * **Dedup key**: the SHA-256 of the body. The body's `eventId` and each event's `uuid` are
///   covered by nothing, so they are not trusted; one delivery may batch several events
///   (`data.events`), and is deduplicated as a whole.
/// * **Key**: the value as registered (`auth.value`), surrounding whitespace removed (HTTP drops
///   it); visible ASCII and inner spaces only, else the verifier refuses it when built — it
///   could not arrive intact in a header. Add the old and the new value while you change it.
/// * Tolerance does not apply (no timestamp).
/// * Okta waits 3 seconds, retries **at most once**, and never retries a 4xx: answer 200 or
///   204 quickly (hand slow work to the inbox), or the event is lost.
/// * The **one-time verification request** is a `GET` carrying `X-Okta-Verification-Challenge`
///   and must be answered before the hook delivers anything: route it to
///   [`Okta::verification_response`] before verification.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use webhook_receiver::{Verifier, providers::Okta};
///
/// let verifier = Verifier::builder(Okta::new()).secret("my-okta-hook-secret").build()?;
/// let mut headers = HeaderMap::new();
/// headers.insert("authorization", HeaderValue::from_static("my-okta-hook-secret"));
/// let verified = verifier.verify(&headers, br#"{"eventType":"com.okta.event_hook"}"#)?;
/// assert_eq!(verified.event_id(), None); // nothing identifies the event in a signed way
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Okta {
    header: HeaderName,
}

impl Default for Okta {
    fn default() -> Self {
        Self::new()
    }
}

impl Okta {
    /// The scheme with the value in `Authorization`, Okta's recommended header.
    pub fn new() -> Self {
        Self {
            header: http::header::AUTHORIZATION,
        }
    }

    /// The scheme with the value in another header (`auth.key` of the hook, for example
    /// `X-Okta-Secret`). Errors when `name` is not a valid header name.
    pub fn with_header(name: &str) -> Result<Self, ConfigError> {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConfigError::invalid("header", "not a valid header name"))?;
        Ok(Self { header })
    }

    /// The JSON body to answer Okta's one-time verification request with,
    /// `{"verification":"<challenge>"}` (status 200, `Content-Type: application/json`), if
    /// `headers` carry a single visible-ASCII `X-Okta-Verification-Challenge`; `None` otherwise.
    ///
    /// **Unauthenticated**: the request proves nothing and needs nothing; echoing the challenge
    /// only shows Okta that you control the endpoint. Okta sends it as a `GET`, the only `GET`
    /// it ever sends to an event hook.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use webhook_receiver::providers::Okta;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-okta-verification-challenge", HeaderValue::from_static("Ab3_x"));
    /// assert_eq!(
    ///     Okta::verification_response(&headers).as_deref(),
    ///     Some(r#"{"verification":"Ab3_x"}"#)
    /// );
    /// ```
    pub fn verification_response(headers: &HeaderMap) -> Option<String> {
        let challenge = header_str(headers, &CHALLENGE).ok().flatten()?;
        // Visible ASCII: only `"` and `\` need escaping, which serde_json does.
        let challenge = serde_json::to_string(challenge).ok()?;
        Some(format!(r#"{{"verification":{challenge}}}"#))
    }
}

/// A secret sent as a header value, as the provider shows it: surrounding whitespace removed;
/// visible ASCII with inner spaces or tabs only (anything else cannot arrive intact in a
/// header, so it is refused when the verifier is built).
pub(super) fn header_token_key(text: &str) -> Result<Key, ConfigError> {
    let token = text.trim_ascii();
    if !token
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
    {
        return Err(ConfigError::InvalidSecret {
            label: None,
            reason: "a header token must be visible ASCII (it is sent in a header)",
        });
    }
    Key::parse(KeyFormat::Raw, token)
}

impl Scheme for Okta {
    fn name(&self) -> &str {
        "okta"
    }

    fn parse_key(&self, text: &str) -> Result<Key, ConfigError> {
        header_token_key(text)
    }

    fn encoding(&self) -> Encoding {
        // Unused: a token is compared as text, never decoded.
        Encoding::Hex
    }

    fn algorithms(&self) -> &[Algorithm] {
        &[Algorithm::Token]
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let token = required_header(request.headers, &self.header)?;
        let mut parsed = Parsed::new(Algorithm::Token).with_signature_header(&self.header);
        parsed.push_signature(token);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        _parsed: &Parsed<'_>,
        _request: &Request<'_>,
        _feed: &mut dyn FnMut(&[u8]),
    ) {
        // A token signs nothing.
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
        insert_header(headers, self.header.clone(), signature)
    }
}
