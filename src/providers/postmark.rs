//! Postmark (no signature: HTTP Basic credentials, or a custom header).
//!
//! Source: postmarkapp.com/developer/webhooks/webhooks-overview ("Protecting your webhook");
//! the Postmark API's webhook `HttpAuth` (`Username`, `Password`) and `HttpHeaders` settings
//! (`ActiveCampaign/postmark.js` `src/client/models/webhooks/Webhook.ts`).

use std::borrow::Cow;

use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName};

use super::okta::header_token_key;
use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, BASE64_LENIENT, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::{Key, KeyFormat};

/// [Postmark](https://postmarkapp.com/developer/webhooks/webhooks-overview) does **not sign**
/// webhooks. It protects them with HTTP Basic credentials (the webhook's `HttpAuth`, or
/// `https://user:pass@…` in its URL), sent as `Authorization: Basic <base64(user:pass)>`; this
/// scheme decodes them and compares `user:pass` with the configured one in constant time.
/// [`Postmark::with_header`] compares the value of a custom header (the webhook's
/// `HttpHeaders`) instead.
///
/// # Nothing binds the body
///
/// The credentials are a password, not a MAC: they authenticate the sender only.
///
/// * Anyone who sees one request can send any body with them, at any time, until they are
///   changed. Use HTTPS only and never log the `Authorization` header; Postmark also publishes
///   the IP addresses it sends from (which may change between attempts) for a firewall.
/// * **No timestamp**: replays are refused only by deduplication.
/// * **Dedup key**: the SHA-256 of the body. The body's `MessageID` / `ID` is covered by
///   nothing, so it is not trusted. Postmark retries a failed delivery with the same body.
/// * **Key** ([`Postmark::new`]): `username:password`, as entered in Postmark (decoded, not
///   percent-encoded as in a URL). Both may be empty but the `:` is required; control
///   characters are refused when the verifier is built. The header's scheme name is matched
///   case-insensitively; the credentials must be base64 of UTF-8 text.
/// * **Key** ([`Postmark::with_header`]): the header's value, surrounding whitespace removed;
///   visible ASCII only.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use webhook_receiver::{Verifier, providers::Postmark};
///
/// let verifier = Verifier::builder(Postmark::new()).secret("postmark:s3cret").build()?;
/// let mut headers = HeaderMap::new();
/// // base64("postmark:s3cret")
/// headers.insert("authorization", HeaderValue::from_static("Basic cG9zdG1hcms6czNjcmV0"));
/// assert!(verifier.verify(&headers, br#"{"RecordType":"Delivery"}"#).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Postmark {
    /// A custom header whose value is the token; `None` for HTTP Basic credentials.
    header: Option<HeaderName>,
}

impl Postmark {
    /// HTTP Basic credentials in `Authorization` (the webhook's `HttpAuth`).
    pub fn new() -> Self {
        Self { header: None }
    }

    /// A secret value in a custom header (one of the webhook's `HttpHeaders`), compared
    /// verbatim. Errors when `name` is not a valid header name.
    pub fn with_header(name: &str) -> Result<Self, ConfigError> {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConfigError::invalid("header", "not a valid header name"))?;
        Ok(Self {
            header: Some(header),
        })
    }
}

fn malformed(reason: &'static str) -> VerifyError {
    VerifyError::malformed(&AUTHORIZATION, reason)
}

/// The `user:pass` of `Authorization: Basic <base64>`.
fn basic_credentials(value: &str) -> Result<String, VerifyError> {
    let (scheme, credentials) = value
        .split_once(' ')
        .ok_or_else(|| malformed("not HTTP Basic credentials"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed("not HTTP Basic credentials"));
    }
    let decoded = BASE64_LENIENT
        .decode(credentials.trim_start_matches(' '))
        .map_err(|_| malformed("the Basic credentials are not base64"))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| malformed("the Basic credentials are not UTF-8 text"))?;
    if !text.contains(':') {
        return Err(malformed("the Basic credentials are not `user:password`"));
    }
    Ok(text)
}

impl Scheme for Postmark {
    fn name(&self) -> &str {
        "postmark"
    }

    fn parse_key(&self, text: &str) -> Result<Key, ConfigError> {
        if self.header.is_some() {
            return header_token_key(text);
        }
        if !text.contains(':') || text.chars().any(char::is_control) {
            return Err(ConfigError::InvalidSecret {
                label: None,
                reason: "Postmark credentials are `username:password`, without control characters",
            });
        }
        Key::parse(KeyFormat::Raw, text)
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
        let (name, token) = match &self.header {
            Some(name) => (name, Cow::Borrowed(required_header(request.headers, name)?)),
            None => {
                let value = required_header(request.headers, &AUTHORIZATION)?;
                (&AUTHORIZATION, Cow::Owned(basic_credentials(value)?))
            }
        };
        let mut parsed = Parsed::new(Algorithm::Token).with_signature_header(name);
        parsed.push_signature(token);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        _parsed: &Parsed<'_>,
        _request: &Request<'_>,
        _feed: &mut dyn FnMut(&[u8]),
    ) {
        // Credentials sign nothing.
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
        match &self.header {
            Some(name) => insert_header(headers, name.clone(), signature),
            None => insert_header(
                headers,
                AUTHORIZATION,
                &format!("Basic {}", BASE64_LENIENT.encode(signature)),
            ),
        }
    }
}
