//! Square (`x-square-hmacsha256-signature`).
//!
//! Source: `square/square-python-sdk` `src/square/utils/webhooks_helper.py` and
//! `tests/integration/test_webhooks_helper.py`; developer.squareup.com "Validate webhook
//! notifications" (`/docs/webhooks/step3validate`).

use http::{HeaderMap, HeaderName};

use super::{
    Draft, EventIdSource, Parsed, Request, Scheme, SignContent, SignedRequest, insert_header,
    required_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-square-hmacsha256-signature");

/// [Square](https://developer.squareup.com/docs/webhooks/step3validate):
/// `x-square-hmacsha256-signature: <base64>`, HMAC-SHA256 over the **notification URL followed
/// by the raw body** (no separator), keyed with the subscription's signature key text.
///
/// * **The URL is signed.** Configure the notification URL exactly as it appears in the
///   subscription (scheme, host, path, query, trailing slash), byte for byte — with
///   [`PublicUrl::Exact`](crate::PublicUrl::Exact) on a [`Receiver`](crate::Receiver), or
///   [`Request::url`] when verifying by hand. Without one, verification fails with
///   [`VerifyError::NoPublicUrl`] (a configuration error, answered 500).
/// * The signature key (`Ibxx_5AKakO-3qeNVR61Dw`) looks like base64url but is used **as text**,
///   not decoded.
/// * An empty body is refused, as Square's SDK does.
/// * No timestamp is signed, so replays are refused only by deduplication; the receiver keeps
///   these deliveries for a long retention.
/// * Dedup key: the body's `event_id`, which Square documents as the idempotency value and which
///   the signature covers (retries carry the same one). A body without it is deduplicated by its
///   MAC.
/// * The legacy `x-square-signature` (HMAC-SHA1) is not accepted.
/// * Square's SDK compares the base64 text; this crate compares the decoded bytes in constant
///   time, so unpadded base64 of the right MAC is also accepted.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Square;

impl Square {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

/// The configured notification URL; empty counts as absent.
fn notification_url<'r>(request: &Request<'r>) -> Result<&'r str, VerifyError> {
    match request.require_url()? {
        "" => Err(VerifyError::NoPublicUrl),
        url => Ok(url),
    }
}

impl Scheme for Square {
    fn name(&self) -> &str {
        "square"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let signature = required_header(request.headers, &SIGNATURE)?;
        notification_url(request)?;
        if request.body.is_empty() {
            return Err(VerifyError::MalformedBody {
                reason: "Square signs a notification body, and this one is empty",
            });
        }
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
        // `parse` refused a request without a URL.
        feed(request.url.unwrap_or_default().as_bytes());
        feed(request.body);
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::Json(&["event_id"])
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, SIGNATURE.clone(), signature)
    }

    fn sign(
        &self,
        draft: &Draft<'_>,
        signer: &mut dyn SignContent,
        out: &mut SignedRequest,
    ) -> Result<(), ConfigError> {
        let url = draft.url.filter(|u| !u.is_empty()).ok_or_else(|| {
            ConfigError::invalid(
                "url",
                "Square signs the notification URL: set `Signer::url`",
            )
        })?;
        let signature = signer.sign(draft.algorithm, &mut |feed| {
            feed(url.as_bytes());
            feed(draft.body);
        })?;
        out.body = draft.body.to_vec();
        self.write_headers(&Parsed::new(draft.algorithm), &signature, &mut out.headers)
    }
}
