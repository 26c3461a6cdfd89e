//! Stripe (`Stripe-Signature: t=…,v1=…`).
//!
//! Source: `stripe/stripe-python` `stripe/_webhook.py`, `stripe/stripe-node` `src/Webhooks.ts`.

use http::{HeaderMap, HeaderName};

use super::{
    EventIdSource, Parsed, Request, Scheme, Timestamp, insert_header, key_values,
    parse_unix_seconds, required_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static STRIPE_SIGNATURE: HeaderName = HeaderName::from_static("stripe-signature");

/// [Stripe](https://docs.stripe.com/webhooks#verify-manually):
/// `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=<hex>]`, HMAC-SHA256 over `{t}.{body}`.
///
/// * The endpoint secret `whsec_…` is used **verbatim** as key bytes, prefix included
///   ([`SecretFormat::Raw`](crate::SecretFormat::Raw)) — unlike Standard Webhooks, whose
///   `whsec_` secrets are base64-decoded.
/// * Only `v1` entries count; `v0` (test mode / legacy) and unknown schemes are ignored, which
///   prevents a downgrade. Spaces around items are tolerated.
/// * **Tolerance differs from Stripe's SDKs on purpose**: they refuse only timestamps older than
///   the tolerance and accept any future `t`. This crate also refuses a `t` further in the future
///   than the verifier's future tolerance (5 minutes by default), since a far-future timestamp
///   would otherwise stay replayable for that long. Set
///   [`tolerance_future`](crate::VerifierBuilder::tolerance_future) to widen it.
/// * The event id is the body's top-level `id` (`evt_…`), which the signature covers, so it is the
///   dedup key. A body without one (not JSON, or no `id`) is deduplicated by its MAC instead.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Stripe;

impl Stripe {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Stripe {
    fn name(&self) -> &str {
        "stripe"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        parse_t_v1(request, &STRIPE_SIGNATURE)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        // Stripe's SDKs sign the re-formatted integer (`"%d.%s"`), not the header text.
        let mut buf = itoa::Buffer::new();
        feed(
            buf.format(parsed.timestamp.as_ref().map_or(0, Timestamp::unix))
                .as_bytes(),
        );
        feed(b".");
        feed(request.body);
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::Json(&["id"])
    }

    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        let t = parsed.timestamp.as_ref().map_or(0, Timestamp::unix);
        insert_header(
            headers,
            STRIPE_SIGNATURE.clone(),
            &format!("t={t},v1={signature}"),
        )
    }
}
/// Parses a `t=<unix seconds>,v1=<hex>[,v1=…]` header named `name` (Stripe, Calendly): exactly
/// one timestamp, at least one non-empty `v1`, other keys ignored.
pub(super) fn parse_t_v1<'r>(
    request: &Request<'r>,
    name: &'static HeaderName,
) -> Result<Parsed<'r>, VerifyError> {
    let value = required_header(request.headers, name)?;
    let mut parsed = Parsed::new(Algorithm::HmacSha256).with_signature_header(name);
    let mut timestamp: Option<Timestamp<'r>> = None;
    key_values(name, value, b',', |key, val| {
        match key {
            "t" if timestamp.is_some() => {
                return Err(VerifyError::malformed(name, "`t` is repeated"));
            }
            "t" => timestamp = Some(parse_unix_seconds(name, val)?),
            "v1" if val.is_empty() => {
                return Err(VerifyError::malformed(name, "empty `v1` signature"));
            }
            "v1" if !parsed.push_signature(val) => {
                return Err(VerifyError::malformed(name, "too many signatures"));
            }
            _ => {}
        }
        Ok(())
    })?;
    let Some(timestamp) = timestamp else {
        return Err(VerifyError::malformed(name, "no `t=` timestamp"));
    };
    if parsed.signature_count() == 0 {
        return Err(VerifyError::malformed(name, "no `v1` signature"));
    }
    Ok(parsed.with_timestamp(timestamp))
}
