//! Intuit QuickBooks Online (`intuit-signature`, base64).
//!
//! Source: developer.intuit.com "Managing webhooks notifications"
//! (`/app/developer/qbo/docs/develop/webhooks/managing-webhooks-notifications`);
//! `intuit/QuickBooks-V3-Java-SDK`
//! `ipp-v3-java-devkit/src/main/java/com/intuit/ipp/services/WebhooksService.java`
//! (`verifyPayload`) and its test `WebhooksServiceTest.java`.

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("intuit-signature");

/// [Intuit QuickBooks Online](https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks/managing-webhooks-notifications):
/// `intuit-signature: <base64>`, HMAC-SHA256 of the raw body keyed with the app's **Verifier
/// Token**.
///
/// * **Key**: the Verifier Token ("Show Token" on the app's Webhooks page of the developer
///   portal), used verbatim ([`KeyFormat::Raw`](crate::KeyFormat::Raw)) — **not** the OAuth
///   client secret, which never verifies.
/// * **Stricter than the Java SDK**: `verifyPayload` hashes `payload.getBytes()` (the platform's
///   default charset, which is not UTF-8 everywhere) and compares with `String.equals`. This
///   scheme hashes the raw bytes received and compares in constant time over the decoded bytes.
/// * **No timestamp** is signed, so time cannot refuse a replay: the
///   [`Receiver`](crate::Receiver) remembers QuickBooks deliveries for a long retention instead.
/// * **Dedup key**: a digest of the body. Production notifications are aggregated (every 1, 3 or
///   5 minutes) into one delivery of `eventNotifications`, one per company (`realmId`), each
///   listing entities with `name`, `id`, `operation` and `lastUpdated` — but no event id.
///   Deduplicate entity changes inside your handler on those signed fields.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct QuickBooks;

impl QuickBooks {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for QuickBooks {
    fn name(&self) -> &str {
        "quickbooks"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
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
