//! Signature schemes: how each provider signs a request.
//!
//! A [`Scheme`] reads the signature candidates, the timestamp and the signed event id from the
//! headers ([`Scheme::parse`]), then feeds the exact signed bytes to the MAC in pieces
//! ([`Scheme::signed_content`]) — the body is never copied. The [`Verifier`](crate::Verifier)
//! does the rest: body limit, tolerance window, MAC per secret, constant-time comparison.
//!
//! Adding a provider is one new file here and one `pub use` line.

use std::borrow::Cow;
use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::SecretFormat;

mod custom;
mod github;
mod shopify;
mod slack;
mod standard;
mod stripe;

pub use custom::{Custom, CustomConfig};
pub use github::GitHub;
pub use shopify::Shopify;
pub use slack::Slack;
pub use standard::StandardWebhooks;
pub use stripe::Stripe;

/// How many signature candidates one request may carry.
pub const MAX_SIGNATURES: usize = 8;

/// How one provider signs requests.
///
/// Implementations must be cheap to call: [`parse`](Scheme::parse) and
/// [`signed_content`](Scheme::signed_content) run on every request and should not allocate.
pub trait Scheme: fmt::Debug + Send + Sync + 'static {
    /// A short, stable name (`"stripe"`): reported in [`Verified`](crate::Verified) and used to
    /// namespace dedup keys.
    fn name(&self) -> &str;

    /// How this provider shows its secret. Defaults to [`SecretFormat::Raw`].
    fn secret_format(&self) -> SecretFormat {
        SecretFormat::Raw
    }

    /// How signatures are encoded in the header.
    fn encoding(&self) -> Encoding;

    /// Every algorithm [`parse`](Scheme::parse) may select; a keyed MAC state is precomputed per
    /// secret for each. Defaults to HMAC-SHA256 only.
    fn algorithms(&self) -> &[Algorithm] {
        &[Algorithm::HmacSha256]
    }

    /// Whether the signature covers a timestamp. Schemes without one cannot refuse replays by
    /// time, so the receiver remembers their deliveries longer.
    fn has_timestamp(&self) -> bool;

    /// Reads the signature candidates, timestamp and signed id from the headers.
    fn parse<'r>(&'r self, headers: &'r HeaderMap) -> Result<Parsed<'r>, VerifyError>;

    /// Feeds the exact signed bytes, in order, to `feed`.
    fn signed_content(&self, parsed: &Parsed<'_>, body: &[u8], feed: &mut dyn FnMut(&[u8]));

    /// Where the event id covered by the signature is. Defaults to the id
    /// [`parse`](Scheme::parse) found; schemes whose id is in the body (Stripe) name the field.
    /// The body is read only when the id is asked for, after the signature matched.
    fn event_id<'r>(&'r self, parsed: &Parsed<'r>) -> EventIdSource<'r> {
        parsed.id.map_or(EventIdSource::None, EventIdSource::Signed)
    }

    /// Writes the headers a sender would send for `parsed` (id and timestamp) and `signature`
    /// (already encoded in [`encoding`](Scheme::encoding)). Used by the signing helpers.
    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError>;
}

/// Where a scheme's signed event id is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventIdSource<'r> {
    /// The scheme has no signed event id; deliveries are deduplicated by their MAC.
    None,
    /// A signed value read from the headers (Standard Webhooks `webhook-id`).
    Signed(&'r str),
    /// A top-level string field of a JSON object body (Stripe `id`, Slack `event_id`).
    JsonField(&'static str),
}

impl<'r> EventIdSource<'r> {
    /// Reads the id from `body` (for [`JsonField`](Self::JsonField)).
    pub fn resolve(self, body: &'r [u8]) -> Option<Cow<'r, str>> {
        match self {
            Self::None => None,
            Self::Signed(id) => Some(Cow::Borrowed(id)),
            Self::JsonField(field) => json_string_field(body, field),
        }
    }
}

/// A signed timestamp as read from a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timestamp<'r> {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    /// The text as sent, for schemes that sign it verbatim.
    pub text: &'r str,
}

/// What a scheme read from a request's headers, before any MAC is computed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Parsed<'r> {
    /// The algorithm the signatures were made with.
    pub algorithm: Algorithm,
    /// The header the signatures came from, named in errors.
    pub signature_header: Option<&'r HeaderName>,
    /// The signed timestamp, if the scheme has one.
    pub timestamp: Option<Timestamp<'r>>,
    /// The event id, only if the signature covers it.
    pub id: Option<&'r str>,
    signatures: [&'r str; MAX_SIGNATURES],
    count: usize,
}

impl<'r> Parsed<'r> {
    /// An empty parse result for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        Self {
            algorithm,
            signature_header: None,
            timestamp: None,
            id: None,
            signatures: [""; MAX_SIGNATURES],
            count: 0,
        }
    }

    /// Sets the signed timestamp.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: Timestamp<'r>) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Sets the header the signatures come from.
    #[must_use]
    pub fn with_signature_header(mut self, name: &'r HeaderName) -> Self {
        self.signature_header = Some(name);
        self
    }

    /// Sets the signed id.
    #[must_use]
    pub fn with_id(mut self, id: &'r str) -> Self {
        self.id = Some(id);
        self
    }

    /// Adds a signature candidate (still encoded, prefix removed). Returns `false` when
    /// [`MAX_SIGNATURES`] are already present.
    pub fn push_signature(&mut self, encoded: &'r str) -> bool {
        if self.count == MAX_SIGNATURES {
            return false;
        }
        self.signatures[self.count] = encoded;
        self.count += 1;
        true
    }

    /// The signature candidates, still encoded.
    pub fn signatures(&self) -> &[&'r str] {
        &self.signatures[..self.count]
    }
}

impl Timestamp<'_> {
    /// A timestamp with its text.
    pub fn new(unix: i64, text: &str) -> Timestamp<'_> {
        Timestamp { unix, text }
    }
}

/// Finds several headers in one pass over the map, which is cheaper than one hashed lookup per
/// name. Each result is as [`header_str`] gives it.
pub fn scan_headers<'r, const N: usize>(
    headers: &'r HeaderMap,
    names: [&HeaderName; N],
) -> Result<[Option<&'r str>; N], VerifyError> {
    let wanted = names.map(HeaderName::as_str);
    let mut found: [Option<&'r HeaderValue>; N] = [None; N];
    for (name, value) in headers {
        let name = name.as_str();
        for (i, want) in wanted.iter().enumerate() {
            if name.len() == want.len() && name == *want {
                if found[i].is_some() {
                    return Err(VerifyError::malformed(names[i], "header is repeated"));
                }
                found[i] = Some(value);
            }
        }
    }
    let mut out = [None; N];
    for ((out, value), name) in out.iter_mut().zip(found).zip(names) {
        if let Some(value) = value {
            *out = Some(value_text(name, value)?);
        }
    }
    Ok(out)
}

/// The single value of header `name`, as visible ASCII with surrounding whitespace trimmed.
///
/// `Ok(None)` when absent; an error when repeated, empty, or not visible ASCII.
pub fn header_str<'r>(
    headers: &'r HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'r str>, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(VerifyError::malformed(name, "header is repeated"));
    }
    value_text(name, value).map(Some)
}

fn value_text<'r>(name: &HeaderName, value: &'r HeaderValue) -> Result<&'r str, VerifyError> {
    // Visible ASCII only: `HeaderValue` admits obs-text bytes, which no scheme uses.
    let text = value
        .to_str()
        .map_err(|_| VerifyError::malformed(name, "not visible ASCII"))?
        .trim_ascii();
    if text.is_empty() {
        return Err(VerifyError::malformed(name, "empty value"));
    }
    Ok(text)
}

/// Like [`header_str`], but a missing header is an error.
pub fn required_header<'r>(
    headers: &'r HeaderMap,
    name: &HeaderName,
) -> Result<&'r str, VerifyError> {
    header_str(headers, name)?.ok_or_else(|| VerifyError::missing(name))
}

/// Parses a Unix-seconds timestamp: ASCII digits only (no sign, no fraction, no exponent),
/// at most 18 of them so it always fits an `i64`.
pub fn parse_unix_seconds<'r>(
    name: &HeaderName,
    text: &'r str,
) -> Result<Timestamp<'r>, VerifyError> {
    let invalid =
        || VerifyError::malformed(name, "timestamp is not a non-negative integer of seconds");
    if text.is_empty() || text.len() > 18 {
        return Err(invalid());
    }
    let mut unix: i64 = 0;
    for b in text.bytes() {
        if !b.is_ascii_digit() {
            return Err(invalid());
        }
        unix = unix * 10 + i64::from(b - b'0');
    }
    Ok(Timestamp { unix, text })
}

/// Splits `s` at every `sep` (an ASCII byte). For the short strings of signature headers a byte
/// loop is cheaper than `str::split`'s searcher.
pub(crate) fn split_byte(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    debug_assert!(sep.is_ascii());
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.bytes().position(|b| b == sep) {
            // `sep` is ASCII, so both cuts fall on character boundaries.
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Splits `s` at the first `sep` (an ASCII byte).
pub(crate) fn split_once_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    debug_assert!(sep.is_ascii());
    let i = s.bytes().position(|b| b == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

/// Inserts `value` under `name`, refusing values that are not valid header text.
pub(crate) fn insert_header(
    headers: &mut HeaderMap,
    name: HeaderName,
    value: &str,
) -> Result<(), ConfigError> {
    let value = HeaderValue::from_str(value)
        .map_err(|_| ConfigError::invalid("header value", "not valid header text"))?;
    headers.insert(name, value);
    Ok(())
}

/// Reads the top-level string field `field` of a JSON object body.
///
/// Parsing stops as soon as the field's value is read, so an id near the start (Stripe puts `id`
/// first) costs a few bytes of parsing whatever the body's size, and nothing is allocated unless
/// the value contains escapes. The body's signature was already verified, so the rest of it is not
/// validated here. `None` if the body is not a JSON object or has no such string field.
pub(crate) fn json_string_field<'r>(body: &'r [u8], field: &str) -> Option<Cow<'r, str>> {
    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

    /// Deserializes a string, borrowing it when it has no escapes.
    struct CowStr<'de>(Cow<'de, str>);

    impl<'de> de::Deserialize<'de> for CowStr<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = CowStr<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                    Ok(CowStr(Cow::Borrowed(v)))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                    Ok(CowStr(Cow::Owned(v.to_owned())))
                }
            }
            d.deserialize_str(V)
        }
    }

    /// Looks for the field; the result goes to `found` so that stopping early (which the
    /// deserializer reports as an error, the object being unfinished) still yields it.
    struct Find<'f, 'de> {
        field: &'f str,
        found: &'f mut Option<Cow<'de, str>>,
    }

    impl<'de> Visitor<'de> for Find<'_, 'de> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<CowStr<'de>>()? {
                if key.0 == self.field {
                    *self.found = map.next_value::<Option<CowStr<'de>>>()?.map(|c| c.0);
                    return Ok(());
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }

    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    // An error after the field was read only means the object was left unfinished.
    let _ = de.deserialize_map(Find {
        field,
        found: &mut found,
    });
    found.filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = HeaderName::from_static("t");
        assert_eq!(
            parse_unix_seconds(&t, "1614265330").unwrap().unix,
            1614265330
        );
        assert_eq!(parse_unix_seconds(&t, "0").unwrap().unix, 0);
        for bad in [
            "",
            "-1",
            "+1",
            "1.5",
            "1e9",
            " 1",
            "12345678901234567890",
            "abc",
            "١٢",
        ] {
            assert!(parse_unix_seconds(&t, bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_unix_seconds(&t, "999999999999999999").unwrap().unix,
            999_999_999_999_999_999
        );
    }

    #[test]
    fn byte_splits() {
        let parts: Vec<_> = split_byte("a b  c", b' ').collect();
        assert_eq!(parts, ["a", "b", "", "c"]);
        assert_eq!(split_byte("", b',').collect::<Vec<_>>(), [""]);
        assert_eq!(split_once_byte("v1,abc,d", b','), Some(("v1", "abc,d")));
        assert_eq!(split_once_byte("v1", b','), None);
        assert_eq!(split_byte("é,ü", b',').collect::<Vec<_>>(), ["é", "ü"]);
    }

    #[test]
    fn json_field() {
        assert_eq!(
            json_string_field(br#"{"a":{"id":"no"},"id":"evt_1","z":[1,2]}"#, "id").as_deref(),
            Some("evt_1")
        );
        assert_eq!(
            json_string_field(br#"{"id":"e\"v"}"#, "id").as_deref(),
            Some("e\"v")
        );
        assert_eq!(json_string_field(br#"{"id":5}"#, "id"), None);
        assert_eq!(json_string_field(br#"{"id":""}"#, "id"), None);
        assert_eq!(json_string_field(br#"{"id":null}"#, "id"), None);
        assert_eq!(json_string_field(b"not json", "id"), None);
        assert_eq!(
            json_string_field(br#"{"a":[1,{"id":"nested"}]}"#, "id"),
            None
        );
        assert_eq!(
            json_string_field(br#"{"a":1,"id":"x", garbage"#, "id").as_deref(),
            Some("x")
        );
        assert_eq!(json_string_field(br#"[{"id":"x"}]"#, "id"), None);
    }

    #[test]
    fn header_rules() {
        let (a, b, c) = (
            HeaderName::from_static("x-a"),
            HeaderName::from_static("x-b"),
            HeaderName::from_static("x-c"),
        );
        let mut h = HeaderMap::new();
        assert_eq!(header_str(&h, &a).unwrap(), None);
        assert!(matches!(
            required_header(&h, &a),
            Err(VerifyError::MissingHeader { .. })
        ));
        h.insert(&a, HeaderValue::from_static("  v  "));
        assert_eq!(header_str(&h, &a).unwrap(), Some("v"));
        h.append(&a, HeaderValue::from_static("w"));
        assert!(header_str(&h, &a).is_err());
        h.insert(&b, HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert!(header_str(&h, &b).is_err());
        h.insert(&c, HeaderValue::from_static("   "));
        assert!(header_str(&h, &c).is_err());
    }
}
