//! HubSpot v3 request signatures (`X-HubSpot-Signature-v3` over method, URI, body, timestamp).
//!
//! Source: developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation
//! (and the legacy-apps copy); developers.hubspot.com/changelog/introducing-version-3-of-webhook-signatures;
//! `HubSpot/hubspot-api-nodejs` `src/utils/signature.ts` and `test/unit/signature.spec.ts`
//! @395cd9bf3bb21252aefc517e11ea64b7db03bd9d; `HubSpot/hubspot-api-python`
//! `hubspot/utils/signature.py` and `tests/spec/utils/test_signature.py`
//! @a2a528a97f4c1131d7f65d0303bfbd2e523a8eba.

use http::{HeaderMap, HeaderName};

use super::{
    Draft, EventIdSource, Parsed, Request, Scheme, SignContent, SignedRequest, Timestamp,
    insert_header, parse_unix_millis, scan_headers,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-hubspot-signature-v3");
static TIMESTAMP: HeaderName = HeaderName::from_static("x-hubspot-request-timestamp");

/// [HubSpot](https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation)
/// v3 request signatures: `X-HubSpot-Signature-v3: <base64>` and
/// `X-HubSpot-Request-Timestamp: <Unix milliseconds>`, HMAC-SHA256 over
/// `{method}{uri}{body}{timestamp}` — the HTTP method, the full URL HubSpot called, the raw body
/// and the timestamp text, concatenated without separators.
///
/// * **The URL is signed**: configure the public URL HubSpot calls (scheme, host, path and
///   query exactly as registered) on the request ([`Request::url`]) — behind a proxy the
///   server's own URI is not it. Without one, verification fails with
///   [`VerifyError::NoPublicUrl`] (500).
/// * **Partly decoded URI**: before signing, HubSpot decodes these percent-escapes in the URI
///   (its request-validation page lists them): `%3A` `:`, `%2F` `/`, `%3F` `?`, `%40` `@`,
///   `%21` `!`, `%24` `$`, `%27` `'`, `%28` `(`, `%29` `)`, `%2A` `*`, `%2C` `,`, `%3B` `;`.
///   This scheme decodes exactly those (hex in either case) and leaves every other escape —
///   `%20`, `%25`, `%2B`… — as sent. HubSpot's SDKs leave that step to the caller; here it is
///   done for you, so pass the URL as HubSpot called it.
/// * **Key**: the app's client secret, used verbatim
///   ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
/// * **Timestamp in milliseconds**, a canonical integer, signed as sent. **Tolerance**:
///   5 minutes in the past, as HubSpot's docs and SDKs require (the Node SDK refuses
///   `now - ts > 300000` ms; at exactly 300 s the Python SDK already refuses). The SDKs accept
///   any future timestamp; this crate refuses one more than 5 minutes ahead (its policy for
///   clock skew).
/// * **Stricter than the SDKs**: the Node SDK compares the base64 text with `===` (not constant
///   time); here comparison is constant-time over the decoded bytes.
/// * **Dedup key**: a digest of the signed content. One delivery is a JSON array of events, each
///   with its own signed `eventId` and `attemptNumber`; a retry carries a new timestamp and a
///   higher `attemptNumber`, so its digest differs. Deduplicate events inside your handler on
///   `eventId` (with `subscriptionId` and `portalId`).
/// * **Statuses**: HubSpot does not retry after 400, 401, 403, 404 or 405, and retries other
///   failures (honouring `Retry-After` on 429) up to 10 times. This crate's rejections (400 for
///   a malformed request, 401 for a bad signature or stale timestamp) therefore stop retries, as
///   they should; a 503 from an unavailable dedup store is retried. Do not answer a *failed
///   handler* with one of those five codes, or HubSpot drops the event.
/// * **Legacy signatures are not accepted**: HubSpot still sends `X-HubSpot-Signature` with
///   `X-HubSpot-Signature-Version: v1` or `v2` alongside v3. Those are plain SHA-256 digests of
///   the secret followed by the content — no MAC, open to length extension, no timestamp — and
///   this scheme ignores them.
///
/// ```
/// use webhook_receiver::{Verifier, providers::{HubSpot, Request}, testing::Signer};
///
/// let url = "https://example.com/hubspot?portal=62515";
/// let verifier = Verifier::builder(HubSpot::new()).secret("client-secret").build()?;
/// let body = br#"[{"eventId":1,"subscriptionType":"contact.creation","attemptNumber":0}]"#;
/// let headers = Signer::new(HubSpot::new(), "client-secret")?.url(url).sign(body)?;
/// let verified = verifier.verify_request(&Request::new(&headers, body).url(url))?;
/// assert_eq!(verified.scheme(), "hubspot");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct HubSpot;

impl HubSpot {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

/// The byte a percent-escape stands for, if HubSpot decodes it before signing.
fn decoded_escape(high: u8, low: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    let byte = u8::try_from(digit(high)? * 16 + digit(low)?).ok()?;
    matches!(
        byte,
        b':' | b'/' | b'?' | b'@' | b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b',' | b';'
    )
    .then_some(byte)
}

/// Feeds `url` with HubSpot's escapes decoded, in pieces (no allocation). Decoding is one
/// pass: `%253A` stays `%253A`, since `%25` is not among the decoded escapes.
fn feed_uri(url: &str, feed: &mut dyn FnMut(&[u8])) {
    let bytes = url.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i + 2 < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = decoded_escape(bytes[i + 1], bytes[i + 2])
        {
            feed(&bytes[start..i]);
            feed(&[byte]);
            i += 3;
            start = i;
            continue;
        }
        i += 1;
    }
    feed(&bytes[start..]);
}

/// The configured public URL; empty counts as absent.
fn public_url<'r>(request: &Request<'r>) -> Result<&'r str, VerifyError> {
    match request.require_url()? {
        "" => Err(VerifyError::NoPublicUrl),
        url => Ok(url),
    }
}

impl Scheme for HubSpot {
    fn name(&self) -> &str {
        "hubspot"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let [signature, timestamp] = scan_headers(request.headers, [&SIGNATURE, &TIMESTAMP])?;
        let signature = signature.ok_or_else(|| VerifyError::missing(&SIGNATURE))?;
        let timestamp = timestamp.ok_or_else(|| VerifyError::missing(&TIMESTAMP))?;
        public_url(request)?;
        let mut parsed = Parsed::new(Algorithm::HmacSha256)
            .with_signature_header(&SIGNATURE)
            .with_timestamp(parse_unix_millis(&TIMESTAMP, timestamp)?);
        parsed.push_signature(signature);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        feed(request.method.as_bytes());
        feed_uri(request.url.unwrap_or(""), feed);
        feed(request.body);
        feed(parsed.timestamp.as_ref().map_or("", |t| &t.text).as_bytes());
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::None
    }

    fn format_timestamp(&self, unix_millis: i64) -> String {
        unix_millis.to_string()
    }

    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, SIGNATURE.clone(), signature)?;
        insert_header(
            headers,
            TIMESTAMP.clone(),
            parsed.timestamp.as_ref().map_or("", |t| &t.text),
        )
    }

    /// Signs as HubSpot does; the draft must carry the URL (`Signer::url`).
    fn sign(
        &self,
        draft: &Draft<'_>,
        signer: &mut dyn SignContent,
        out: &mut SignedRequest,
    ) -> Result<(), ConfigError> {
        let url = draft.url.filter(|u| !u.is_empty()).ok_or_else(|| {
            ConfigError::invalid("url", "HubSpot signs the request URL: set `Signer::url`")
        })?;
        let text = self.format_timestamp(draft.timestamp_millis);
        let parsed = Parsed::new(draft.algorithm)
            .with_timestamp(Timestamp::new(draft.timestamp_millis, &text));
        let headers = HeaderMap::new();
        let request = Request::new(&headers, draft.body)
            .method(draft.method)
            .url(url);
        let signature = signer.sign(draft.algorithm, &mut |feed| {
            self.signed_content(&parsed, &request, feed);
        })?;
        out.body = draft.body.to_vec();
        self.write_headers(&parsed, &signature, &mut out.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(url: &str) -> String {
        let mut out = Vec::new();
        feed_uri(url, &mut |piece| out.extend_from_slice(piece));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn only_the_listed_escapes_are_decoded() {
        assert_eq!(
            decoded("https://x.test/a%3Ab%2fc?d=%40%21%24%27%28%29%2A%2c%3B%3F"),
            "https://x.test/a:b/c?d=@!$'()*,;?"
        );
        // Not in the list, or not an escape at all: left alone, in one pass.
        for same in [
            "https://x.test/a%20b%25c%2Bd%3D%26",
            "https://x.test/%253A",
            "https://x.test/%",
            "https://x.test/%3",
            "https://x.test/%zz%3",
            "",
            "%",
        ] {
            assert_eq!(decoded(same), same);
        }
        assert_eq!(decoded("%3A"), ":");
        assert_eq!(decoded("x%3A"), "x:");
        assert_eq!(decoded("%3a%3A"), "::");
        // Non-ASCII text is passed through untouched.
        assert_eq!(decoded("https://x.test/é%40"), "https://x.test/é@");
    }
}
