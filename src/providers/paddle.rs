//! Paddle Billing (`Paddle-Signature: ts=…;h1=…`).
//!
//! Source: `PaddleHQ/paddle-python-sdk` `paddle_billing/Notifications/{PaddleSignature,Verifier}.py`,
//! `PaddleHQ/paddle-node-sdk` `src/notifications/helpers/webhooks-validator.ts`,
//! `PaddleHQ/paddle-go-sdk` `webhook_verifier.go`, `PaddleHQ/paddle-php-sdk`
//! `src/Notifications/`; developer.paddle.com "Verify webhook signatures".

use std::time::Duration;

use http::{HeaderMap, HeaderName};

use super::{
    EventIdSource, Parsed, Request, Scheme, Timestamp, Tolerance, insert_header, key_values,
    parse_unix_seconds, required_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static PADDLE_SIGNATURE: HeaderName = HeaderName::from_static("paddle-signature");

/// [Paddle Billing](https://developer.paddle.com/webhooks/signature-verification):
/// `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>…]`, HMAC-SHA256 in hex over `{ts}:{body}`
/// (a **colon**, where Stripe has a dot), keyed with the notification destination's secret key.
///
/// * **Key**: the destination's `endpoint_secret_key` (`pdl_ntfset_…`) used verbatim as key
///   bytes, prefix included ([`KeyFormat::Raw`](crate::KeyFormat::Raw)); nothing is decoded.
/// * **Signatures**: any `h1` may match, as in the Python and PHP SDKs (the Node SDK keeps only
///   the last `h1`, the Go SDK accepts exactly one). An `h1` that is not 64 hex digits is skipped,
///   as those SDKs' own tests expect (`h1=dummy;h1=<valid>` verifies); a header without a single
///   well-formed `h1` is malformed. Keys other than `ts` and `h1` are ignored, as in the Node SDK
///   (the Python and PHP SDKs raise on them). Hex is accepted in either case.
/// * **Timestamp**: `ts` must be a canonical integer of seconds (no sign, no leading zero), and
///   may appear once; the SDKs parse it leniently (`int()`, `parseInt`) and keep the last one.
///   With canonical digits the signed text equals the integer the SDKs re-format.
/// * **Tolerance**: **5 seconds** in the past, Paddle's documented value and the one every SDK
///   enforces by default (`now > ts + 5` is refused), so each delivery attempt carries the time
///   it was sent. The SDKs do not check the future; this crate refuses a `ts` more than 5 minutes
///   ahead (its policy for clock skew). A receiver whose clock drifts, or that verifies after
///   queueing, may widen [`tolerance_past`](crate::VerifierBuilder::tolerance_past) a little;
///   the dedup key below keeps a wider window safe.
/// * **Dedup key**: the body's top-level `event_id` (`evt_…`), which the signature covers and
///   which a retry repeats even though its `ts` is new; a retry that follows a lost 2xx is
///   recognised for as long as the [`Receiver`](crate::Receiver) retains keys (raise its
///   retention to cover Paddle's retry schedule). A body without `event_id` is deduplicated by
///   its MAC. `notification_id` (`ntf_…`) is signed too, but differs per destination.
/// * Comparison is constant-time over the decoded bytes (the Node SDK compares hex with `===`).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Paddle;

impl Paddle {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

/// Whether `s` is the 64 hex digits of an HMAC-SHA256.
fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Scheme for Paddle {
    fn name(&self) -> &str {
        "paddle"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn default_tolerance(&self) -> Tolerance {
        Tolerance::new(Duration::from_secs(5), Duration::from_secs(300))
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let name = &PADDLE_SIGNATURE;
        let value = required_header(request.headers, name)?;
        let mut parsed = Parsed::new(Algorithm::HmacSha256).with_signature_header(name);
        let mut timestamp: Option<Timestamp<'r>> = None;
        key_values(name, value, b';', |key, val| {
            match key {
                "ts" if timestamp.is_some() => {
                    return Err(VerifyError::malformed(name, "`ts` is repeated"));
                }
                "ts" => timestamp = Some(parse_unix_seconds(name, val)?),
                // Entries that cannot be a signature are skipped, as the SDKs' tests expect.
                "h1" if is_sha256_hex(val) && !parsed.push_signature(val) => {
                    return Err(VerifyError::malformed(name, "too many signatures"));
                }
                _ => {}
            }
            Ok(())
        })?;
        let Some(timestamp) = timestamp else {
            return Err(VerifyError::malformed(name, "no `ts=` timestamp"));
        };
        if parsed.signature_count() == 0 {
            return Err(VerifyError::malformed(
                name,
                "no `h1` signature of 64 hex digits",
            ));
        }
        Ok(parsed.with_timestamp(timestamp))
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        // Canonical digits: the text is the integer the SDKs re-format (`f"{ts}:{body}"`).
        feed(parsed.timestamp.as_ref().map_or("", |t| &t.text).as_bytes());
        feed(b":");
        feed(request.body);
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::Json(&["event_id"])
    }

    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        let ts = parsed.timestamp.as_ref().map_or("", |t| &t.text);
        insert_header(
            headers,
            PADDLE_SIGNATURE.clone(),
            &format!("ts={ts};h1={signature}"),
        )
    }
}
