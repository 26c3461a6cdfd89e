//! Zoom (`x-zm-signature: v0=…`).
//!
//! Source: `zoom/rivet-javascript` `meetings/meetings.mjs` (`CommonHttpRequest.isEventVerified`,
//! `parseHeaders`, `hashUrlValidationEvent`); `zoom/webhook-sample` `index.js`;
//! developers.zoom.us/docs/api/webhooks ("Verify webhook events", "Validate your webhook
//! endpoint").

use http::{HeaderMap, HeaderName};

use super::{
    EventIdSource, Parsed, Request, Scheme, insert_header, json_str, parse_unix_seconds,
    scan_headers,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::verify::{Verified, Verifier};

static TIMESTAMP: HeaderName = HeaderName::from_static("x-zm-request-timestamp");
static SIGNATURE: HeaderName = HeaderName::from_static("x-zm-signature");

/// [Zoom](https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events):
/// `x-zm-request-timestamp` and `x-zm-signature: v0=<hex>`, HMAC-SHA256 over
/// `v0:{timestamp}:{body}` keyed with the app's *Secret Token* text.
///
/// * **The raw body is signed.** Zoom's samples and Rivet re-serialise the parsed JSON
///   (`JSON.stringify(req.body)`), which only works while Zoom sends compact JSON; this crate
///   signs the bytes received.
/// * The timestamp is in **Unix seconds** (a recorded delivery carries
///   `x-zm-request-timestamp: 1688752773` beside a body `event_ts` of `1688752773282` ms), as
///   canonical ASCII digits; anything else is a malformed header. Zoom documents no tolerance
///   and Rivet checks none: this crate refuses timestamps more than 5 minutes old or ahead
///   (its policy, set with [`tolerance`](crate::VerifierBuilder::tolerance)).
/// * Dedup key: a digest of the signed content. Zoom's body has no event id (`event`,
///   `event_ts` and the object's id together identify it, but no single signed field does). Zoom
///   retries an unacknowledged delivery three times, 5, 20 and 60 minutes after the previous
///   attempt; whether it re-signs them is undocumented. A retry signed with a new timestamp has a new dedup key (make the handler
///   idempotent on `event` + `event_ts` + `payload.object.id` if a second run is costly), and
///   one that kept its first timestamp is refused by the 5-minute tolerance: widen
///   [`tolerance_past`](crate::VerifierBuilder::tolerance_past) to about 90 minutes to accept
///   those.
/// * URL validation (`endpoint.url_validation`, sent when the endpoint is saved and every 72
///   hours) is signed like any event; answer it with [`Zoom::url_validation_response`].
/// * The deprecated verification-token header is not accepted.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Zoom;

impl Zoom {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }

    /// The JSON to answer Zoom's endpoint validation with, if `body` is a verified
    /// `endpoint.url_validation` event: `{"plainToken": …, "encryptedToken": …}`, where
    /// `encryptedToken` is the hex HMAC-SHA256 of `plainToken` under the secret token that
    /// verified the request. Answer it with status 200 and `Content-Type: application/json`.
    ///
    /// `None` for any other event, for a body without `payload.plainToken`, or when `verified`
    /// does not come from a Zoom verifier. `body` must be the body that was verified.
    ///
    /// ```
    /// use webhook_receiver::{Request, Verifier, providers::Zoom, testing::Signer};
    ///
    /// let verifier = Verifier::builder(Zoom::new()).secret("zoom_secret_token").build()?;
    /// let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    /// let headers = Signer::new(Zoom::new(), "zoom_secret_token")?.sign(body)?;
    ///
    /// let verified = verifier.verify(&headers, body)?;
    /// let answer = Zoom::url_validation_response(&verifier, &verified, body).unwrap();
    /// assert!(answer.starts_with(r#"{"plainToken":"qgg8vlvZRS6UYooatFL8Aw","encryptedToken":""#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn url_validation_response(
        verifier: &Verifier,
        verified: &Verified<'_>,
        body: &[u8],
    ) -> Option<String> {
        if verified.scheme() != "zoom" || verifier.scheme().name() != "zoom" {
            return None;
        }
        if json_str(body, &["event"])? != "endpoint.url_validation" {
            return None;
        }
        let plain = json_str(body, &["payload", "plainToken"])?;
        let encrypted = hex::encode(verifier.hmac_sha256_with(verified, plain.as_bytes())?);
        // Zoom's order; the token is JSON-escaped, the hex needs no escaping.
        let plain = serde_json::to_string(&plain).ok()?;
        Some(format!(
            r#"{{"plainToken":{plain},"encryptedToken":"{encrypted}"}}"#
        ))
    }
}

impl Scheme for Zoom {
    fn name(&self) -> &str {
        "zoom"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let [timestamp, signature] = scan_headers(request.headers, [&TIMESTAMP, &SIGNATURE])?;
        let timestamp = timestamp.ok_or_else(|| VerifyError::missing(&TIMESTAMP))?;
        let timestamp = parse_unix_seconds(&TIMESTAMP, timestamp)?;
        let signature = signature.ok_or_else(|| VerifyError::missing(&SIGNATURE))?;
        let Some(signature) = signature.strip_prefix("v0=") else {
            return Err(VerifyError::malformed(
                &SIGNATURE,
                "missing the `v0=` prefix",
            ));
        };
        let mut parsed = Parsed::new(Algorithm::HmacSha256)
            .with_signature_header(&SIGNATURE)
            .with_timestamp(timestamp);
        parsed.push_signature(signature);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        feed(b"v0:");
        feed(parsed.timestamp.as_ref().map_or("", |t| &t.text).as_bytes());
        feed(b":");
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
        insert_header(
            headers,
            TIMESTAMP.clone(),
            parsed.timestamp.as_ref().map_or("", |t| &t.text),
        )?;
        insert_header(headers, SIGNATURE.clone(), &format!("v0={signature}"))
    }
}
