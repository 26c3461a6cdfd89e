//! Dropbox (`X-Dropbox-Signature`) and its verification request (`GET ?challenge=`).
//!
//! Source: `dropbox/mdwebhook` `app.py` (`challenge`, `webhook`) @1b32d5a, Dropbox's sample
//! app; dropbox.com/developers/reference/webhooks.

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, form_pairs, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-dropbox-signature");

/// The longest `challenge` [`Dropbox::challenge_response`] echoes.
const MAX_CHALLENGE: usize = 1024;

/// [Dropbox](https://www.dropbox.com/developers/reference/webhooks) notifications:
/// `X-Dropbox-Signature: <hex>`, HMAC-SHA256 of the raw body keyed with the app secret,
/// verbatim ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
///
/// * **Verification request**: when the webhook URI is set, Dropbox sends an **unsigned**
///   `GET ?challenge=<text>` that must be echoed; answer it with
///   [`Dropbox::challenge_response`] before verifying (a `GET` has no signature).
/// * **Payload**: a notification only (`{"list_folder": {"accounts": […]}, "delta": {"users":
///   […]}}`); the app then asks the API what changed, so handling one twice is harmless.
/// * **No timestamp** and **no event id**: deliveries are deduplicated by the MAC of the body,
///   remembered for a long retention.
/// * Comparison is constant-time over the decoded bytes; hex is accepted in either case.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Dropbox;

impl Dropbox {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }

    /// The body to answer Dropbox's verification request with: the `challenge` query parameter
    /// of a `GET`, decoded, to send back with status 200 and the headers
    /// `Content-Type: text/plain` and `X-Content-Type-Options: nosniff` (as Dropbox's sample
    /// does, so that a browser never renders the echoed text). `query` is the request's query
    /// string, without the `?`.
    ///
    /// **Unauthenticated**: anyone can send this request, and the answer only repeats what it
    /// carried. Route it before verification and do nothing else with it. `None` — answer 400
    /// — for any other method, a query without `challenge`, or a challenge that is empty, longer
    /// than 1024 bytes or not visible ASCII.
    ///
    /// ```
    /// use webhook_receiver::providers::Dropbox;
    ///
    /// assert_eq!(Dropbox::challenge_response("GET", "challenge=aBc123").as_deref(), Some("aBc123"));
    /// assert_eq!(Dropbox::challenge_response("POST", "challenge=aBc123"), None);
    /// ```
    pub fn challenge_response(method: &str, query: &str) -> Option<String> {
        if method != "GET" {
            return None;
        }
        let (_, challenge) = form_pairs(query.as_bytes()).find(|(k, _)| k == "challenge")?;
        let valid = !challenge.is_empty()
            && challenge.len() <= MAX_CHALLENGE
            && challenge.bytes().all(|b| b.is_ascii_graphic());
        valid.then(|| challenge.into_owned())
    }
}

impl Scheme for Dropbox {
    fn name(&self) -> &str {
        "dropbox"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let signature = required_header(request.headers, &SIGNATURE)?;
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
