//! PagerDuty v3 webhooks (`X-PagerDuty-Signature: v1=…`).
//!
//! Source: `PagerDuty/developer-docs` `docs/webhooks/04-Signatures.md` and `02-Behavior.md`;
//! `PagerDuty/go-pagerduty` `webhookv3/webhookv3.go`.

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header, split_byte};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-pagerduty-signature");

/// [PagerDuty v3 webhooks](https://developer.pagerduty.com/docs/ZG9jOjExMDI5NTkz-verifying-signatures):
/// `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 in hex of the raw body, keyed
/// with the webhook subscription's secret text.
///
/// * **Key**: the secret shown when the subscription is created, used verbatim as key bytes
///   ([`KeyFormat::Raw`](crate::KeyFormat::Raw)) — it looks like base64 but is not decoded.
/// * **Signatures**: one `v1=` entry per active secret, comma-separated (PagerDuty rotates
///   without downtime); any may match. As in `go-pagerduty`, entries of other versions and
///   `v1=` entries that are not 64 hex digits are skipped; a header without a single well-formed
///   `v1=` entry is malformed. Spaces around entries are tolerated. Hex is accepted in either
///   case.
/// * An **empty body** is malformed, as in `go-pagerduty` (PagerDuty always sends a JSON event).
/// * **No timestamp** is signed, so time cannot refuse a replay: the
///   [`Receiver`](crate::Receiver) remembers PagerDuty deliveries for a long retention instead.
/// * **Dedup key**: the body's `event.id`, which the signature covers and a retry repeats.
///   PagerDuty recommends the `X-Webhook-Id` header for deduplication, but that header is **not
///   signed** (anyone replaying a captured delivery could change it), so it is not used. A body
///   without `event.id` is deduplicated by its MAC.
/// * Comparison is constant-time over the decoded bytes.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct PagerDuty;

impl PagerDuty {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

/// Whether `s` is the 64 hex digits of an HMAC-SHA256.
fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Scheme for PagerDuty {
    fn name(&self) -> &str {
        "pagerduty"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let name = &SIGNATURE;
        let value = required_header(request.headers, name)?;
        let mut parsed = Parsed::new(Algorithm::HmacSha256).with_signature_header(name);
        for entry in split_byte(value, b',') {
            let Some(signature) = entry.trim_ascii().strip_prefix("v1=") else {
                continue;
            };
            if is_sha256_hex(signature) && !parsed.push_signature(signature) {
                return Err(VerifyError::malformed(name, "too many signatures"));
            }
        }
        if parsed.signature_count() == 0 {
            return Err(VerifyError::malformed(
                name,
                "no `v1=` signature of 64 hex digits",
            ));
        }
        if request.body.is_empty() {
            return Err(VerifyError::MalformedBody {
                reason: "empty body",
            });
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
        EventIdSource::Json(&["event", "id"])
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
