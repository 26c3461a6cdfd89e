//! Veriff (`X-HMAC-SIGNATURE`, hex).
//!
//! Source: devdocs.veriff.com/docs/hmac-authentication-and-endpoint-security, /webhooks-guide
//! and /decision-webhook; `Veriff/js-integration-demo` `app.js` (`generateSignature`,
//! `isSignatureValid`, the webhook listener) @fa4c3a50cd49c06fd851b6639d7ab919746c6887.

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-hmac-signature");

/// [Veriff](https://devdocs.veriff.com/docs/hmac-authentication-and-endpoint-security):
/// `X-HMAC-SIGNATURE: <hex>`, HMAC-SHA256 of the raw body keyed with the integration's shared
/// secret key.
///
/// * **Encoding**: lowercase hex, as Veriff's own integration demo computes it
///   (`createHmac("sha256", secret).update(payload).digest("hex")`) and checks it (against the
///   header lowercased); hex is accepted in either case here too.
/// * **Key**: the integration's "Shared secret key", used verbatim
///   ([`KeyFormat::Raw`](crate::KeyFormat::Raw)). The `X-AUTH-CLIENT` header Veriff also sends
///   is the integration's public API key, not a signature, and is ignored.
/// * **Not the legacy scheme**: before HMAC, Veriff sent `X-Signature`, a plain SHA-256 of the
///   payload followed by the secret; this scheme does not accept it.
/// * **No timestamp** is signed, so time cannot refuse a replay: the
///   [`Receiver`](crate::Receiver) remembers Veriff deliveries for a long retention instead.
/// * **Dedup key**: a digest of the body. The payloads carry the verification session's id,
///   which several webhooks of one session share (event webhooks, then the decision), so it
///   cannot identify one delivery.
/// * Comparison is constant-time over the decoded bytes (the demo compares hex strings with
///   `===`).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Veriff;

impl Veriff {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Veriff {
    fn name(&self) -> &str {
        "veriff"
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
