//! Xero (`x-xero-signature`, base64).
//!
//! Source: developer.xero.com/documentation/guides/webhooks/configuring-your-server (the
//! signature, the "Intent to Receive" validation and the answers Xero expects);
//! `XeroAPI/XeroWebhooksReceiver` `XeroWebhooksReceiver/Helpers/SignatureVerifier.cs` and
//! `Controllers/WebhooksController.cs` (Xero's sample receiver). The Xero SDKs have no helper.

use http::{HeaderMap, HeaderName, StatusCode};
use serde::de::IgnoredAny;

use super::{
    EventIdSource, Parsed, Request, Scheme, insert_header, is_json_object, required_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-xero-signature");

/// [Xero](https://developer.xero.com/documentation/guides/webhooks/configuring-your-server):
/// `x-xero-signature: <base64>`, HMAC-SHA256 of the raw body keyed with the app's webhook
/// signing key text.
///
/// * **Key**: the "Webhooks key" shown on the app's webhook settings, used verbatim
///   ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
/// * **Statuses Xero expects**: `200` with an **empty body** (and no cookies) within 5 seconds
///   for a delivery, and **`401 Unauthorized` for one whose signature is not valid**. Every
///   verification failure of a Xero request — a signature that does not match, but also a
///   missing or malformed `x-xero-signature` — is answered 401
///   ([`reject_status`](Scheme::reject_status)); the error itself still says which it was, for
///   the logs. A body over the limit is still 413.
/// * **Intent to Receive**: when a webhook is created, re-enabled or its URL changes, Xero
///   sends a series of deliveries with no events, some correctly signed and some not; the
///   subscription becomes active only if the endpoint answers 200 and 401 respectively. The
///   verifier gives the 401s; answer a verified one with an empty `200`
///   ([`Xero::is_intent_to_receive`] tells it apart from a real delivery).
/// * **No timestamp** is signed, so time cannot refuse a replay: the
///   [`Receiver`](crate::Receiver) remembers Xero deliveries for a long retention instead.
/// * **Dedup key**: a digest of the body. One delivery carries a batch of `events`, each with a
///   `resourceId`, `eventDateUtc` and `eventType` but no event id; the body's random `entropy`
///   makes each delivery's digest distinct. Deduplicate events inside your handler on those
///   signed fields.
/// * Comparison is constant-time over the decoded bytes (Xero's sample receiver compares the
///   base64 text with `==`).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Xero;

impl Xero {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }

    /// Whether a **verified** `body` is an "Intent to Receive" validation request: a JSON object
    /// whose `events` is an empty array (`{"events":[],"firstEventSequence":0,
    /// "lastEventSequence":0,"entropy":"…"}`). Answer it `200` with an empty body and do nothing
    /// else. Call it only after verification: an unverified one must be answered 401, which the
    /// verifier's rejection already does.
    pub fn is_intent_to_receive(body: &[u8]) -> bool {
        #[derive(serde::Deserialize)]
        struct Payload {
            events: Vec<IgnoredAny>,
        }
        // A derived struct would also accept a JSON array.
        is_json_object(body)
            && serde_json::from_slice::<Payload>(body).is_ok_and(|p| p.events.is_empty())
    }
}

impl Scheme for Xero {
    fn name(&self) -> &str {
        "xero"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn reject_status(&self, error: &VerifyError) -> StatusCode {
        match error {
            VerifyError::BodyTooLarge { .. } | VerifyError::NoPublicUrl => error.status(),
            _ => StatusCode::UNAUTHORIZED,
        }
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
