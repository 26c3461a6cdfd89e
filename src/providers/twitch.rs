//! Twitch EventSub, webhook transport (`Twitch-Eventsub-Message-Signature: sha256=…`).
//!
//! Source: dev.twitch.tv/docs/eventsub/handling-webhook-events ("Verifying the event message",
//! "Responding to a challenge request") and dev.twitch.tv/docs/eventsub ("Handling duplicate
//! events", "Guarding against replay attacks"); `twitchdev/twitch-cli`
//! `internal/events/trigger/forward_event.go` (how Twitch's own CLI signs).

use std::borrow::Cow;
use std::io::Write as _;
use std::time::Duration;

use http::{HeaderMap, HeaderName};
use time::OffsetDateTime;

use super::{
    MAX_BUILT_CONTENT, Parsed, Request, Scheme, Tolerance, header_str, insert_header, json_str,
    parse_rfc3339, scan_headers,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::{Key, KeyFormat};

static MESSAGE_ID: HeaderName = HeaderName::from_static("twitch-eventsub-message-id");
static TIMESTAMP: HeaderName = HeaderName::from_static("twitch-eventsub-message-timestamp");
static SIGNATURE: HeaderName = HeaderName::from_static("twitch-eventsub-message-signature");
static MESSAGE_TYPE: HeaderName = HeaderName::from_static("twitch-eventsub-message-type");
static MESSAGE_RETRY: HeaderName = HeaderName::from_static("twitch-eventsub-message-retry");

/// [Twitch EventSub](https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message)
/// over the webhook transport: `Twitch-Eventsub-Message-Id`, `Twitch-Eventsub-Message-Timestamp`
/// (RFC 3339 with nanoseconds) and `Twitch-Eventsub-Message-Signature: sha256=<hex>`,
/// HMAC-SHA256 over the message id, the timestamp text and the raw body, concatenated with no
/// separator.
///
/// * **Secret**: the text you chose when subscribing, used raw; Twitch requires 10 to 100 ASCII
///   characters, and anything else is refused when the verifier is built.
/// * **Timestamp**: signed as sent, nanoseconds included (`2019-11-16T10:11:12.634234626Z`);
///   never re-format it. Twitch's own CLI signs Go's `RFC3339Nano` rendering of the instant
///   (trailing zeros of the fraction dropped, `Z` for UTC), which differs from the header only
///   when the header is not in that form; such a request is also checked against that rendering
///   (the same id, instant and body, so nothing an attacker could change).
/// * **Tolerance**: Twitch says to refuse messages older than **10 minutes**; it says nothing of
///   the future, where this scheme applies **5 minutes as its own policy**.
/// * **Dedup key**: `Twitch-Eventsub-Message-Id`, which the signature covers; Twitch resends a
///   message with the same id.
/// * The message type (`Twitch-Eventsub-Message-Type`: [`NOTIFICATION`](Twitch::NOTIFICATION),
///   [`VERIFICATION`](Twitch::VERIFICATION), [`REVOCATION`](Twitch::REVOCATION)) is **not
///   signed**; every type is signed the same way. After verifying, answer a
///   `webhook_callback_verification` with [`Twitch::challenge`].
/// * Comparison is constant-time over the decoded bytes; hex is accepted in either case.
///
/// ```
/// use webhook_receiver::{Verifier, providers::Twitch, testing::Signer};
///
/// let secret = "s3cre7-at-least-ten-chars";
/// let verifier = Verifier::builder(Twitch::new()).secret(secret).build()?;
/// let body = br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{}}"#;
/// let mut headers = Signer::new(Twitch::new(), secret)?
///     .id("e76c6bd4-55c9-4987-8304-da1588d8988b")
///     .sign(body)?;
/// headers.insert("twitch-eventsub-message-type", "webhook_callback_verification".parse()?);
///
/// let verified = verifier.verify(&headers, body)?;
/// assert_eq!(verified.event_id().as_deref(), Some("e76c6bd4-55c9-4987-8304-da1588d8988b"));
/// // Answer 200, `Content-Type: text/plain`, with the challenge as the whole body.
/// assert_eq!(Twitch::challenge(&headers, body).as_deref(), Some("pogchamp-kappa-360noscope-vohiyo"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Twitch;

impl Twitch {
    /// `Twitch-Eventsub-Message-Type` of an event notification.
    pub const NOTIFICATION: &'static str = "notification";
    /// `Twitch-Eventsub-Message-Type` of the challenge sent after subscribing.
    pub const VERIFICATION: &'static str = "webhook_callback_verification";
    /// `Twitch-Eventsub-Message-Type` of a revoked subscription.
    pub const REVOCATION: &'static str = "revocation";

    /// The scheme.
    pub fn new() -> Self {
        Self
    }

    /// The `Twitch-Eventsub-Message-Type` header (compare with [`Twitch::NOTIFICATION`],
    /// [`Twitch::VERIFICATION`], [`Twitch::REVOCATION`]); `None` if absent or malformed. The
    /// header is not signed: trust it only for choosing how to answer a verified request.
    pub fn message_type(headers: &HeaderMap) -> Option<&str> {
        header_str(headers, &MESSAGE_TYPE).ok().flatten()
    }

    /// The challenge to echo when a verified request is a `webhook_callback_verification`: the
    /// body's `challenge` string, to send as the whole response body with status 200 and
    /// `Content-Type: text/plain`. `None` for other message types, or a body without one.
    pub fn challenge<'b>(headers: &HeaderMap, body: &'b [u8]) -> Option<Cow<'b, str>> {
        if Self::message_type(headers)? != Self::VERIFICATION {
            return None;
        }
        json_str(body, &["challenge"])
    }
}

/// Go's `time.RFC3339Nano` rendering, on the stack (at most 35 bytes).
struct GoText {
    bytes: [u8; 48],
    len: usize,
}

impl GoText {
    fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// `at` as Go's `time.RFC3339Nano` layout writes it: the fraction without trailing zeros (and
/// without the dot when it is zero), `Z` for a zero offset, else `±hh:mm`. `None` for years
/// outside `0000..=9999`, which RFC 3339 cannot write.
fn go_rfc3339_nano(at: OffsetDateTime) -> Option<GoText> {
    if !(0..=9999).contains(&at.year()) {
        return None;
    }
    let mut bytes = [0u8; 48];
    let mut out = &mut bytes[..];
    write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
    .ok()?;
    let mut nanos = at.nanosecond();
    if nanos > 0 {
        let mut digits = 9;
        while nanos.is_multiple_of(10) {
            nanos /= 10;
            digits -= 1;
        }
        write!(out, ".{nanos:0digits$}").ok()?;
    }
    let offset = at.offset().whole_minutes();
    if offset == 0 {
        write!(out, "Z").ok()?;
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.unsigned_abs();
        write!(out, "{sign}{:02}:{:02}", offset / 60, offset % 60).ok()?;
    }
    let len = 48 - out.len();
    Some(GoText { bytes, len })
}

impl Scheme for Twitch {
    fn name(&self) -> &str {
        "twitch"
    }

    /// The raw secret text, 10 to 100 ASCII characters as Twitch requires.
    fn parse_key(&self, text: &str) -> Result<Key, ConfigError> {
        if !text.is_ascii() || !(10..=100).contains(&text.len()) {
            return Err(ConfigError::InvalidSecret {
                label: None,
                reason: "a Twitch EventSub secret is 10 to 100 ASCII characters",
            });
        }
        Key::parse(KeyFormat::Raw, text)
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn default_tolerance(&self) -> Tolerance {
        Tolerance::new(Duration::from_secs(600), Duration::from_secs(300))
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let [id, timestamp, signature] =
            scan_headers(request.headers, [&MESSAGE_ID, &TIMESTAMP, &SIGNATURE])?;
        let id = id.ok_or_else(|| VerifyError::missing(&MESSAGE_ID))?;
        let text = timestamp.ok_or_else(|| VerifyError::missing(&TIMESTAMP))?;
        let signature = signature.ok_or_else(|| VerifyError::missing(&SIGNATURE))?;
        let timestamp = parse_rfc3339(&TIMESTAMP, text)?;
        let Some(signature) = signature.strip_prefix("sha256=") else {
            return Err(VerifyError::malformed(
                &SIGNATURE,
                "missing the `sha256=` prefix",
            ));
        };
        let mut parsed = Parsed::new(Algorithm::HmacSha256)
            .with_signature_header(&SIGNATURE)
            .with_id(id)
            .with_timestamp(timestamp);
        parsed.push_signature(signature);

        // The Twitch CLI signs Go's rendering of the instant, not the header text: when the two
        // differ, check both forms (this copies the body, but only for such requests).
        let body = request.body;
        let canonical = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()
            .and_then(go_rfc3339_nano);
        if let Some(canonical) = canonical
            && canonical.as_str() != text
            && body.len() <= MAX_BUILT_CONTENT
        {
            for stamp in [text, canonical.as_str()] {
                let mut content = Vec::with_capacity(id.len() + stamp.len() + body.len());
                content.extend_from_slice(id.as_bytes());
                content.extend_from_slice(stamp.as_bytes());
                content.extend_from_slice(body);
                parsed.push_content(content);
            }
        }
        Ok(parsed)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        feed(parsed.id.as_deref().unwrap_or_default().as_bytes());
        feed(parsed.timestamp.as_ref().map_or("", |t| &t.text).as_bytes());
        feed(request.body);
    }

    /// Go's `RFC3339Nano` in UTC, as Twitch sends it (`2019-11-16T10:11:12.634Z`).
    fn format_timestamp(&self, unix_millis: i64) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis) * 1_000_000)
            .ok()
            .and_then(go_rfc3339_nano)
            .map(|text| text.as_str().to_owned())
            .unwrap_or_default()
    }

    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(
            headers,
            MESSAGE_ID.clone(),
            parsed.id.as_deref().unwrap_or_default(),
        )?;
        insert_header(
            headers,
            TIMESTAMP.clone(),
            parsed.timestamp.as_ref().map_or("", |t| &t.text),
        )?;
        insert_header(headers, SIGNATURE.clone(), &format!("sha256={signature}"))?;
        insert_header(headers, MESSAGE_TYPE.clone(), Self::NOTIFICATION)?;
        insert_header(headers, MESSAGE_RETRY.clone(), "0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(text: &str) -> String {
        let at =
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
        go_rfc3339_nano(at).unwrap().as_str().to_owned()
    }

    #[test]
    fn go_rfc3339_nano_matches_go() {
        // Expected values are what Go's `time.Parse(time.RFC3339Nano, s).Format(time.RFC3339Nano)`
        // prints.
        for (input, expected) in [
            (
                "2019-11-16T10:11:12.634234626Z",
                "2019-11-16T10:11:12.634234626Z",
            ),
            (
                "2019-11-16T10:11:12.634234620Z",
                "2019-11-16T10:11:12.63423462Z",
            ),
            ("2019-11-16T10:11:12.000000000Z", "2019-11-16T10:11:12Z"),
            ("2019-11-16T10:11:12.5+00:00", "2019-11-16T10:11:12.5Z"),
            ("2019-11-16T10:11:12-07:30", "2019-11-16T10:11:12-07:30"),
            (
                "2019-11-16T10:11:12.010+05:00",
                "2019-11-16T10:11:12.01+05:00",
            ),
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ] {
            assert_eq!(go(input), expected, "{input}");
        }
        assert_eq!(
            Twitch.format_timestamp(1_573_899_072_634),
            "2019-11-16T10:11:12.634Z"
        );
        assert_eq!(
            Twitch.format_timestamp(1_573_899_072_000),
            "2019-11-16T10:11:12Z"
        );
    }
}
