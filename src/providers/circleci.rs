//! CircleCI outbound webhooks (`circleci-signature: v1=…`).
//!
//! Source: circleci.com/docs "Outbound webhooks" and "Webhooks reference" (headers, payload
//! signing, deduplication); discuss.circleci.com/t/40979, an answer by CircleCI staff with a
//! verification sample. CircleCI publishes no SDK that verifies and no example signature.

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, key_values, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("circleci-signature");

/// [CircleCI](https://circleci.com/docs/guides/integration/outbound-webhooks/) outbound
/// webhooks: `circleci-signature: v1=<hex>`, HMAC-SHA256 of the raw body keyed with the
/// webhook's *secret token* (the API's `signing-secret`), verbatim
/// ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
///
/// * **Versions**: the header is a comma-separated list of `<version>=<signature>` items and
///   only `v1` is sent today; every `v1` item is a candidate and items of other versions are
///   ignored, so a future version does not break verification. A header without a `v1` item
///   of 64 hex digits, or with an item that is not `key=value`, is malformed.
/// * **No timestamp** is signed (`happened_at` is the event's time): the
///   [`Receiver`](crate::Receiver) remembers deliveries for a long retention.
/// * **Dedup key**: the body's top-level `id`, which CircleCI documents as the key to
///   deduplicate on ("webhook requests may be duplicated") and which the signature covers. A
///   body without `id` is deduplicated by its MAC.
/// * CircleCI retries non-2xx answers and answers slower than 5 seconds later, on an
///   undocumented schedule.
/// * Comparison is constant-time over the decoded bytes; hex is accepted in either case.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct CircleCi;

impl CircleCi {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

/// Whether `s` is the 64 hex digits of an HMAC-SHA256.
fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Scheme for CircleCi {
    fn name(&self) -> &str {
        "circleci"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let value = required_header(request.headers, &SIGNATURE)?;
        let mut parsed = Parsed::new(Algorithm::HmacSha256).with_signature_header(&SIGNATURE);
        key_values(&SIGNATURE, value, b',', |version, signature| {
            if version == "v1" && is_sha256_hex(signature) && !parsed.push_signature(signature) {
                return Err(VerifyError::malformed(&SIGNATURE, "too many signatures"));
            }
            Ok(())
        })?;
        if parsed.signature_count() == 0 {
            return Err(VerifyError::malformed(
                &SIGNATURE,
                "no `v1=` signature of 64 hex digits",
            ));
        }
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
        EventIdSource::Json(&["id"])
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, SIGNATURE.clone(), &format!("v1={signature}"))
    }
}
