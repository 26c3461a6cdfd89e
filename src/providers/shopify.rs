//! Shopify (`X-Shopify-Hmac-Sha256`).
//!
//! Source: `Shopify/shopify-api-js` `lib/webhooks/validate.ts`, `lib/utils/hmac-validator.ts`;
//! shopify.dev "Verify deliveries".

use http::{HeaderMap, HeaderName};

use super::{Parsed, Request, Scheme, first_header, insert_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static HMAC: HeaderName = HeaderName::from_static("x-shopify-hmac-sha256");
static HMAC_EVENTS: HeaderName = HeaderName::from_static("shopify-hmac-sha256");

/// [Shopify](https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-2-validate-the-origin-of-your-webhook-to-ensure-its-coming-from-shopify):
/// `X-Shopify-Hmac-Sha256: <base64>`, HMAC-SHA256 of the raw body keyed with the app's client
/// secret text.
///
/// * The signature is **base64**, not hex. The newer Events delivery's `Shopify-Hmac-Sha256`
///   (no `X-`) is accepted when `X-Shopify-Hmac-Sha256` is absent.
/// * No timestamp is signed; `X-Shopify-Event-Id` is not signed either, so the dedup key is the
///   MAC of the body, and the receiver keeps it for a long retention.
/// * Webhooks created by hand in the store admin are signed with a different key, shown on that
///   admin page; configure that one for them.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Shopify;

impl Shopify {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Shopify {
    fn name(&self) -> &str {
        "shopify"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let Some((name, signature)) = first_header(request.headers, &[&HMAC, &HMAC_EVENTS])? else {
            return Err(VerifyError::missing(&HMAC));
        };
        let mut parsed = Parsed::new(Algorithm::HmacSha256).with_signature_header(name);
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

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, HMAC.clone(), signature)
    }
}
