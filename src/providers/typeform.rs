//! Typeform (`Typeform-Signature: sha256=…`, base64).
//!
//! Source: typeform.com/developers/webhooks/secure-your-webhooks (the Ruby and Node examples);
//! typeform.com/developers/webhooks/example-payload. Typeform publishes no SDK that verifies.

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("typeform-signature");

/// [Typeform](https://www.typeform.com/developers/webhooks/secure-your-webhooks/):
/// `Typeform-Signature: sha256=<base64>`, HMAC-SHA256 of the raw body keyed with the webhook's
/// secret text.
///
/// * **The trap**: the `sha256=` prefix looks like GitHub's, but what follows is **base64**
///   (Typeform's examples use `Base64.strict_encode64`), not hex. The prefix is required.
/// * **Key**: the random string you set as the webhook's `secret` through the Webhooks API,
///   used verbatim ([`KeyFormat::Raw`](crate::KeyFormat::Raw)). Unsigned webhooks (no secret
///   set) carry no header and are refused.
/// * **No timestamp** is signed, so time cannot refuse a replay: the
///   [`Receiver`](crate::Receiver) remembers Typeform deliveries for a long retention instead.
/// * **Dedup key**: the body's top-level `event_id`, which the signature covers (every payload
///   in Typeform's examples has one; Typeform does not document it as a dedup key). A body
///   without one is deduplicated by its MAC.
/// * Comparison is constant-time over the decoded bytes (the documented Node example compares
///   strings with `===`); padded and unpadded base64 decode to the same signature.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Typeform;

impl Typeform {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Typeform {
    fn name(&self) -> &str {
        "typeform"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
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
        EventIdSource::Json(&["event_id"])
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
