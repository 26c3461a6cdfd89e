//! Box webhooks V2 (`BOX-SIGNATURE-PRIMARY` / `-SECONDARY` over `{body}{timestamp}`).
//!
//! Source: developer.box.com/guides/webhooks/v2/ (payload headers) and
//! /guides/webhooks/v2/signatures-v2/ ("Manual signature verification"); `box/box-python-sdk`
//! `box_sdk_gen/managers/webhooks.py` (`WebhooksManager.validate_message`),
//! `box_sdk_gen/internal/utils.py` (`compute_webhook_signature`, `compare_signatures`) and
//! `test/webhooks.py` @656e9bbb24de3384c766aa77d8182a5114b19d0d; box/box-python-sdk-gen issue
//! #596 (the escaped-body retry).

use std::time::Duration;

use http::{HeaderMap, HeaderName};

use super::{
    EventIdSource, Parsed, Request, Scheme, Tolerance, format_rfc3339, header_str, insert_header,
    parse_rfc3339, scan_headers,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static PRIMARY: HeaderName = HeaderName::from_static("box-signature-primary");
static SECONDARY: HeaderName = HeaderName::from_static("box-signature-secondary");
static VERSION: HeaderName = HeaderName::from_static("box-signature-version");
static ALGORITHM: HeaderName = HeaderName::from_static("box-signature-algorithm");
static TIMESTAMP: HeaderName = HeaderName::from_static("box-delivery-timestamp");

/// [Box](https://developer.box.com/guides/webhooks/v2/signatures-v2/) webhooks (V2):
/// `BOX-SIGNATURE-PRIMARY: <base64>` and `BOX-SIGNATURE-SECONDARY: <base64>`, each an
/// HMAC-SHA256 over the raw body **followed by** the `BOX-DELIVERY-TIMESTAMP` text (body first,
/// then timestamp, no separator — the reverse of most providers), keyed with the application's
/// primary and secondary signature keys.
///
/// * **Headers required as Box's SDK requires them**: `BOX-SIGNATURE-VERSION` must be `1` and
///   `BOX-SIGNATURE-ALGORITHM` must be `HmacSHA256`; anything else is malformed, where the SDK
///   answers "not valid". At least one of the two signature headers must be present.
/// * **Keys and rotation**: configure the primary and the secondary signature key (Developer
///   Console → the app → Webhooks → "Manage signature keys"), both verbatim
///   ([`KeyFormat::Raw`](crate::KeyFormat::Raw)), with labels. Box signs with both so that one
///   can be rotated while the other keeps verifying; any configured key matching either header
///   passes (the SDK checks the primary key only against the primary header), so the labels need
///   not follow Box's naming after a rotation. [`Verified::key_label`](crate::Verified::key_label)
///   says which key matched.
/// * **Timestamp**: `BOX-DELIVERY-TIMESTAMP` in RFC 3339 with an offset
///   (`2016-07-11T10:10:33-07:00`), signed as sent. **Tolerance: 10 minutes in the past and none
///   in the future**, as the SDK (`max_age = 600`, and a timestamp after the current second is
///   refused). A receiver whose clock runs behind Box's refuses every delivery: keep the clock
///   synchronised, or allow a little skew with
///   [`tolerance_future`](crate::VerifierBuilder::tolerance_future).
/// * **Raw body only**: Box signs the body exactly as sent. Box's SDKs retry each key with a
///   re-escaped copy of the body (non-ASCII and control characters turned into `\u` escapes),
///   to repair bodies an application parsed and re-serialised; Box's own issue tracker reports
///   that this escaping corrupts valid payloads. Here the raw bytes are verified and nothing
///   else, so two different byte strings never pass for one signature.
/// * **Dedup key**: the body's top-level `id`, the webhook event's id, which stays the same
///   across retries and is signed. `BOX-DELIVERY-ID` changes on every retry and is not signed,
///   so it is not used. A body without `id` is deduplicated by its MAC.
/// * Comparison is constant-time over the decoded bytes.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct BoxCom;

impl BoxCom {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

/// A signature header: `None` when absent or empty, as Box's SDK skips an empty one (the
/// other may still verify); an error when repeated or not visible ASCII.
fn signature_header<'r>(
    headers: &'r HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'r str>, VerifyError> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) if value.as_bytes().trim_ascii().is_empty() => Ok(None),
        _ => header_str(headers, name),
    }
}

impl Scheme for BoxCom {
    fn name(&self) -> &str {
        "box"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn default_tolerance(&self) -> Tolerance {
        Tolerance::new(Duration::from_secs(600), Duration::ZERO)
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let [version, algorithm, timestamp] =
            scan_headers(request.headers, [&VERSION, &ALGORITHM, &TIMESTAMP])?;
        let (primary, secondary) = (
            signature_header(request.headers, &PRIMARY)?,
            signature_header(request.headers, &SECONDARY)?,
        );
        if primary.is_none() && secondary.is_none() {
            return Err(VerifyError::missing(&PRIMARY));
        }
        match version {
            None => return Err(VerifyError::missing(&VERSION)),
            Some("1") => {}
            Some(_) => {
                return Err(VerifyError::malformed(
                    &VERSION,
                    "unsupported signature version (Box sends `1`)",
                ));
            }
        }
        match algorithm {
            None => return Err(VerifyError::missing(&ALGORITHM)),
            Some("HmacSHA256") => {}
            Some(_) => {
                return Err(VerifyError::malformed(
                    &ALGORITHM,
                    "unsupported algorithm (Box sends `HmacSHA256`)",
                ));
            }
        }
        let timestamp = timestamp.ok_or_else(|| VerifyError::missing(&TIMESTAMP))?;
        let header = if primary.is_some() {
            &PRIMARY
        } else {
            &SECONDARY
        };
        let mut parsed = Parsed::new(Algorithm::HmacSha256)
            .with_signature_header(header)
            .with_timestamp(parse_rfc3339(&TIMESTAMP, timestamp)?);
        for signature in [primary, secondary].into_iter().flatten() {
            parsed.push_signature(signature);
        }
        Ok(parsed)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        feed(request.body);
        feed(parsed.timestamp.as_ref().map_or("", |t| &t.text).as_bytes());
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::Json(&["id"])
    }

    fn format_timestamp(&self, unix_millis: i64) -> String {
        format_rfc3339(unix_millis)
    }

    /// Writes the primary signature only; a signer holds one key.
    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, PRIMARY.clone(), signature)?;
        insert_header(headers, VERSION.clone(), "1")?;
        insert_header(headers, ALGORITHM.clone(), "HmacSHA256")?;
        insert_header(
            headers,
            TIMESTAMP.clone(),
            parsed.timestamp.as_ref().map_or("", |t| &t.text),
        )
    }
}
