//! Sentry integration platform webhooks (`Sentry-Hook-Signature`).
//!
//! Source: `getsentry/sentry` `src/sentry/sentry_apps/models/sentry_app.py`
//! (`SentryApp.build_signature`) and `src/sentry/sentry_apps/api/serializers/app_platform_event.py`
//! (`AppPlatformEvent.body`, `sentry_headers`) @0211925; docs.sentry.io
//! "Integration platform: webhooks". Sentry publishes no example signature.

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("sentry-hook-signature");
static TIMESTAMP: HeaderName = HeaderName::from_static("sentry-hook-timestamp");

/// [Sentry](https://docs.sentry.io/organization/integrations/integration-platform/webhooks/)
/// integration platform webhooks: `Sentry-Hook-Signature: <hex>`, HMAC-SHA256 of the raw body
/// keyed with the integration's **Client Secret**, verbatim
/// ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
///
/// * **The timestamp is not signed.** Sentry sends `Sentry-Hook-Timestamp` (Unix seconds at
///   sending), but the signature covers only the body, so anyone replaying a captured request
///   can set it to anything: this scheme **ignores it** and has no timestamp. Replays are
///   stopped by deduplication instead: the [`Receiver`](crate::Receiver) remembers Sentry
///   deliveries for a long retention.
/// * **Dedup key**: a digest of the signed body. `Request-ID` is a fresh random UUID each
///   time Sentry builds the headers, and not signed; the body
///   (`{"action", "installation": {"uuid"}, "data", "actor"}`) has no delivery id. Two
///   deliveries with byte-identical bodies count as one within the retention.
/// * `Sentry-Hook-Resource` (`installation`, `event_alert`, `issue`, `metric_alert`, `error`,
///   `comment`, …) is not signed either: route on the body's contents where it matters.
/// * Comparison is constant-time over the decoded bytes; hex is accepted in either case.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Sentry;

impl Sentry {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for Sentry {
    fn name(&self) -> &str {
        "sentry"
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
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        // Sent as Sentry sends it, though nothing signs it.
        if let Some(timestamp) = &parsed.timestamp {
            insert_header(headers, TIMESTAMP.clone(), &timestamp.text)?;
        }
        insert_header(headers, SIGNATURE.clone(), signature)
    }
}
