//! Asana (`X-Hook-Signature`, and the `X-Hook-Secret` handshake).
//!
//! Source: `Asana/developer-docs` `source/includes/markdown/_webhooks.html.md` (handshake,
//! receiving events, security, troubleshooting); developers.asana.com "Establish a webhook";
//! the sample receivers of `Asana/devrel-examples` (`javascript/webhooks-nodejs/index.js`,
//! `python/webhooks/webhook_inspector.py`), which compute the signature as a hex digest.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::{EventIdSource, Parsed, Request, Scheme, header_str, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-hook-signature");
static SECRET: HeaderName = HeaderName::from_static("x-hook-secret");

/// [Asana](https://developers.asana.com/docs/webhooks-guide): `X-Hook-Signature: <hex>`, the
/// HMAC-SHA256 of the raw body keyed with the secret Asana sent in the webhook's handshake.
///
/// * **Key**: the `X-Hook-Secret` value of the handshake, used **verbatim** as key bytes
///   ([`KeyFormat::Raw`](crate::KeyFormat::Raw)) — it looks like hex, but it is not decoded.
///   Asana sends it once, when the webhook is created, and never rotates it; each webhook has
///   its own. [`Asana::handshake_secret`] reads it.
/// * The signature is lowercase hex in Asana's samples (either case is accepted); one per
///   request.
/// * **No timestamp** is signed, and the body has no event id: deliveries are deduplicated by
///   the MAC of the body, remembered for a long retention. Asana retries a delivery that was not
///   answered with a 2xx within 10 seconds for up to 24 hours, with the same body. Heartbeats
///   (`{"events":[]}`, sent to check that the endpoint is alive) have identical bodies: after
///   the first, each is answered 200 as a duplicate without running the handler — which is all
///   Asana needs.
/// * Asana delivers **at most once** and cannot replay events: keep a polling fallback if you
///   cannot miss one.
/// * The handshake is a POST with `X-Hook-Secret` and **no signature**: route it to
///   [`Asana::handshake_response`] *before* verification (verifying it fails with a missing
///   `X-Hook-Signature`).
///
/// ```
/// use webhook_receiver::{Verifier, providers::Asana, testing::Signer};
///
/// let secret = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81";
/// let body = br#"{"events":[]}"#;
/// let headers = Signer::new(Asana::new(), secret)?.sign(body)?;
///
/// let verifier = Verifier::builder(Asana::new()).secret(secret).build()?;
/// assert!(verifier.verify(&headers, body).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Asana;

impl Asana {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }

    /// The secret of an Asana **handshake** request, if `headers` are one: a single visible-ASCII
    /// `X-Hook-Secret` header and no `X-Hook-Signature`. Store it as the key of the webhook
    /// being created.
    ///
    /// **Unauthenticated**: anyone can send a request with an `X-Hook-Secret` header. Accept a
    /// handshake only while your own `POST /webhooks` call to Asana is in flight for that
    /// endpoint, and never let a later handshake replace a secret you already hold (Asana's
    /// sample receivers ignore a second one for that reason).
    pub fn handshake_secret(headers: &HeaderMap) -> Option<&str> {
        if headers.contains_key(&SIGNATURE) {
            return None;
        }
        header_str(headers, &SECRET).ok().flatten()
    }

    /// The headers to answer a handshake with, status 200 (or 204): `X-Hook-Secret` echoed.
    /// `None` when `headers` are not a handshake ([`Asana::handshake_secret`]). Unauthenticated,
    /// like the handshake itself: answer only a handshake you expect.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use webhook_receiver::providers::Asana;
    ///
    /// let mut request = HeaderMap::new();
    /// request.insert("x-hook-secret", HeaderValue::from_static("b537207f20cbfa02"));
    /// let answer = Asana::handshake_response(&request).unwrap();
    /// assert_eq!(answer["x-hook-secret"], "b537207f20cbfa02");
    /// ```
    pub fn handshake_response(headers: &HeaderMap) -> Option<HeaderMap> {
        let secret = Self::handshake_secret(headers)?;
        let mut answer = HeaderMap::new();
        answer.insert(SECRET.clone(), HeaderValue::from_str(secret).ok()?);
        Some(answer)
    }
}

impl Scheme for Asana {
    fn name(&self) -> &str {
        "asana"
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
