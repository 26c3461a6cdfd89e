//! Linear (`Linear-Signature`, timestamp in the body).
//!
//! Source: `linear/linear` `packages/sdk/src/webhooks/client.ts` (`LinearWebhookClient`) and
//! `packages/sdk/src/schema.graphql` (the webhook payload types); linear.app/developers/webhooks.

use http::{HeaderMap, HeaderName};

use super::{
    Draft, EventIdSource, Parsed, Request, Scheme, SignContent, SignedRequest, Timestamp,
    Tolerance, insert_header, is_json_object, required_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("linear-signature");

/// The body field holding the signing time.
const TIMESTAMP_FIELD: &str = "webhookTimestamp";

/// [Linear](https://linear.app/developers/webhooks): `Linear-Signature: <hex>`, HMAC-SHA256 of
/// the raw body keyed with the webhook's signing secret text.
///
/// * **Key**: the signing secret shown on the webhook's settings page, used as raw text
///   ([`KeyFormat::Raw`](crate::KeyFormat::Raw)). One signature per request.
/// * **Timestamp in the body**: Linear signs no timestamp header; the signed body's
///   `webhookTimestamp` (Unix **milliseconds**, a JSON number) is read after the signature
///   matched and checked against the window, **±60 seconds** by default as in Linear's SDK.
/// * **Stricter than the SDK**: the SDK skips the time check when `webhookTimestamp` is absent or
///   `0`, and then falls back to the unsigned `Linear-Timestamp` header. Here a body without a
///   numeric top-level `webhookTimestamp` (or with it twice) is a malformed body (400), `0` is
///   simply too old, and `Linear-Timestamp` is ignored: it is not signed.
/// * Hex is accepted in either case (the SDK compares the lowercase text); comparison is
///   constant-time over the decoded bytes.
/// * **Dedup key**: the `Linear-Delivery` header is not signed, and the payload has no signed
///   delivery id, so deliveries are deduplicated by the MAC of the body. The body's
///   `webhookTimestamp` is the time each attempt was sent, so a retry of the same event has a
///   new key: where running an event twice matters, key your processing on signed body fields
///   such as `webhookId`, `type`, `action`, `createdAt` and `data.id`.
/// * [`testing::Signer`](crate::testing::Signer) adds `webhookTimestamp` (the signing time) at
///   the end of a JSON object body that lacks one, as Linear does; use
///   [`sign_request`](crate::testing::Signer::sign_request) to get that body.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Linear;

impl Linear {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

/// The body's top-level `webhookTimestamp` in milliseconds: an integer, or a finite number
/// (GraphQL `Float`) rounded down. `None` if the body is not a JSON object, lacks the field,
/// repeats it, or holds something else there.
fn webhook_timestamp(body: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(rename = "webhookTimestamp")]
        timestamp: Option<serde_json::Number>,
    }
    // A derived struct would also accept a JSON array.
    if !is_json_object(body) {
        return None;
    }
    let number = serde_json::from_slice::<Body>(body).ok()?.timestamp?;
    if let Some(millis) = number.as_i64() {
        return Some(millis);
    }
    let millis = number.as_f64()?.floor();
    // `i64::MAX as f64` rounds up to 2^63, which is out of range: compare strictly.
    (millis.is_finite() && millis >= i64::MIN as f64 && millis < i64::MAX as f64)
        .then_some(millis as i64)
}

impl Scheme for Linear {
    fn name(&self) -> &str {
        "linear"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn default_tolerance(&self) -> Tolerance {
        Tolerance::symmetric(std::time::Duration::from_secs(60))
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

    fn body_timestamp(&self, body: &[u8]) -> Option<i64> {
        webhook_timestamp(body)
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::None
    }

    fn format_timestamp(&self, unix_millis: i64) -> String {
        unix_millis.to_string()
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, SIGNATURE.clone(), signature)
    }

    /// Signs the body, first adding `"webhookTimestamp":<draft time in ms>` at the end of a JSON
    /// object that has no `webhookTimestamp` member, as Linear does. Any other body is signed as
    /// it is.
    fn sign(
        &self,
        draft: &Draft<'_>,
        signer: &mut dyn SignContent,
        out: &mut SignedRequest,
    ) -> Result<(), ConfigError> {
        let lacks_timestamp =
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(draft.body)
                .is_ok_and(|object| !object.contains_key(TIMESTAMP_FIELD));
        let body = match lacks_timestamp {
            true => with_timestamp(draft.body, draft.timestamp_millis),
            false => draft.body.to_vec(),
        };
        let text = self.format_timestamp(draft.timestamp_millis);
        let parsed = Parsed::new(draft.algorithm)
            .with_timestamp(Timestamp::new(draft.timestamp_millis, &text));
        let headers = HeaderMap::new();
        let request = Request::new(&headers, &body).method(draft.method);
        let signature = signer.sign(draft.algorithm, &mut |feed| {
            self.signed_content(&parsed, &request, feed);
        })?;
        self.write_headers(&parsed, &signature, &mut out.headers)?;
        out.body = body;
        Ok(())
    }
}

/// `body`, a valid JSON object, with `"webhookTimestamp":millis` added as its last member.
fn with_timestamp(body: &[u8], millis: i64) -> Vec<u8> {
    // A valid JSON object starts with `{` and ends with `}`, surrounding spaces aside.
    let start = body.iter().position(|&b| b == b'{');
    let end = body.iter().rposition(|&b| b == b'}');
    let (Some(start), Some(end)) = (start, end) else {
        return body.to_vec();
    };
    if start >= end {
        return body.to_vec();
    }
    let empty = body[start + 1..end].iter().all(u8::is_ascii_whitespace);
    let mut out = Vec::with_capacity(body.len() + 40);
    out.extend_from_slice(&body[..end]);
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(format!("\"{TIMESTAMP_FIELD}\":{millis}").as_bytes());
    out.extend_from_slice(&body[end..]);
    out
}
