//! DocuSign Connect with HMAC (`X-DocuSign-Signature-1` … `-N`, base64).
//!
//! Source: developers.docusign.com/platform/webhooks/connect/hmac, /connect/validate and
//! /connect/validation-and-security; `docusign/code-examples-node`
//! `lib/connect/examples/validateWebhookMessage.js` (`computeHash`, `isHashValid`)
//! @8b0ee71cc6ebd73462eae40b88c7115ea419b94a.

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, MAX_SIGNATURES, Parsed, Request, Scheme, insert_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE_1: HeaderName = HeaderName::from_static("x-docusign-signature-1");

/// What every signature header's name starts with; a number from 1 follows.
const PREFIX: &str = "x-docusign-signature-";

/// [DocuSign Connect](https://developers.docusign.com/platform/webhooks/connect/hmac/) with
/// HMAC security: `X-DocuSign-Signature-1: <base64>`, `X-DocuSign-Signature-2: <base64>`, …, one
/// header per active Connect HMAC key, each the HMAC-SHA256 of the **entire raw body** (line
/// endings included) under that key.
///
/// * **Rotation**: DocuSign numbers the headers after the account's active keys. Configure every
///   key you hold (with labels, so [`Verified::key_label`](crate::Verified::key_label) tells
///   which one matched); any header matching any configured key passes, so the numbering never
///   has to line up with the order of your keys. Add the new key, then remove the old one once
///   it stops matching.
/// * At most [`MAX_SIGNATURES`] signature headers are read; a request with more is malformed
///   (an account with that many active keys is not supported). Headers named
///   `X-DocuSign-Signature-<something other than a number>` are ignored.
/// * **Key**: the Connect HMAC key as shown when it was generated, used verbatim
///   ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
/// * Connect may also be secured with basic auth, OAuth or mutual TLS instead of HMAC; this
///   scheme requires HMAC, so a configuration without it is refused (no signature header).
/// * **No timestamp** is signed, so time cannot refuse a replay: the
///   [`Receiver`](crate::Receiver) remembers DocuSign deliveries for a long retention instead.
/// * **Dedup key**: a digest of the body. DocuSign documents no delivery id; the payload names
///   the envelope and the event, which recur across events of one envelope.
/// * Comparison is constant-time over the decoded bytes, as in DocuSign's sample.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DocuSign;

impl DocuSign {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for DocuSign {
    fn name(&self) -> &str {
        "docusign"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let mut parsed = Parsed::new(Algorithm::HmacSha256).with_signature_header(&SIGNATURE_1);
        for (name, value) in request.headers {
            let Some(number) = name.as_str().strip_prefix(PREFIX) else {
                continue;
            };
            if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let text = value
                .to_str()
                .map_err(|_| VerifyError::malformed(name, "not visible ASCII"))?
                .trim_ascii();
            if text.is_empty() {
                return Err(VerifyError::malformed(name, "empty value"));
            }
            if !parsed.push_signature(text) {
                return Err(VerifyError::malformed(
                    name,
                    "more signature headers than this scheme reads",
                ));
            }
        }
        if parsed.signature_count() == 0 {
            return Err(VerifyError::missing(&SIGNATURE_1));
        }
        debug_assert!(parsed.signature_count() <= MAX_SIGNATURES);
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
        insert_header(headers, SIGNATURE_1.clone(), signature)
    }
}
