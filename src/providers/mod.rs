//! Signature schemes: how each provider signs a request.
//!
//! A [`Scheme`] reads the signature candidates, the timestamp and the signed event id from the
//! request ([`Scheme::parse`]), then feeds the exact signed bytes to the verifier in pieces
//! ([`Scheme::signed_content`]) — the body is never copied. The [`Verifier`](crate::Verifier)
//! does the rest: body limit, tolerance window, one MAC or signature check per key,
//! constant-time comparison.
//!
//! A scheme sees a [`Request`]: method, the public URL the sender called (for providers that
//! sign it), headers and body. Schemes whose signed content is not a simple sequence of request
//! pieces (URL plus sorted form parameters, fields inside the body) build it once in `parse` with
//! [`Parsed::push_content`]; a batch whose items are signed one by one pushes each item with its
//! signature ([`Parsed::push_signed_part`]), and every item must match.
//!
//! Adding a provider is one new file here and one `pub use` line.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::keysource::{KeyError, KeyKind, KeyRef, RemoteKey};
use crate::secret::{Key, KeyFormat};

mod adyen;
mod airwallex;
mod alchemy;
mod asana;
mod bitbucket;
mod box_com;
mod buildkite;
mod calendly;
mod catalog;
mod checkout_com;
mod circleci;
mod coinbase_commerce;
mod custom;
mod discord;
mod docusign;
mod dropbox;
mod easypost;
mod form;
mod gitea;
mod github;
mod gitlab;
mod gocardless;
mod hubspot;
mod intercom;
mod lemon_squeezy;
mod line;
mod linear;
mod mailgun;
mod mandrill;
mod meta;
mod notion;
mod okta;
mod paddle;
mod pagerduty;
mod paypal;
mod plaid;
mod postmark;
mod quickbooks;
mod razorpay;
mod recurly;
mod segment;
mod sendgrid;
mod sentry;
mod shopify;
mod slack;
mod sns;
mod square;
mod standard;
mod stripe;
mod svix_family;
mod telnyx;
mod twilio;
mod twitch;
mod typeform;
mod veriff;
mod webflow;
mod woocommerce;
mod xero;
mod zendesk;
mod zoom;

pub use adyen::Adyen;
pub use airwallex::Airwallex;
pub use alchemy::Alchemy;
pub use asana::Asana;
pub use bitbucket::Bitbucket;
pub use box_com::BoxCom;
pub use buildkite::Buildkite;
pub use calendly::Calendly;
pub use catalog::{BoxScheme, UnknownProvider, by_name, names};
pub use checkout_com::CheckoutCom;
pub use circleci::CircleCi;
pub use coinbase_commerce::CoinbaseCommerce;
pub use custom::{Custom, CustomConfig};
pub use discord::Discord;
pub use docusign::DocuSign;
pub use dropbox::Dropbox;
pub use easypost::EasyPost;
pub use gitea::Gitea;
pub use github::GitHub;
pub use gitlab::GitLab;
pub use gocardless::GoCardless;
pub use hubspot::HubSpot;
pub use intercom::Intercom;
pub use lemon_squeezy::LemonSqueezy;
pub use line::Line;
pub use linear::Linear;
pub use mailgun::Mailgun;
pub use mandrill::Mandrill;
pub use meta::Meta;
pub use notion::Notion;
pub use okta::Okta;
pub use paddle::Paddle;
pub use pagerduty::PagerDuty;
pub use paypal::PayPal;
pub use plaid::Plaid;
pub use postmark::Postmark;
pub use quickbooks::QuickBooks;
pub use razorpay::Razorpay;
pub use recurly::Recurly;
pub use segment::Segment;
pub use sendgrid::SendGrid;
pub use sentry::Sentry;
pub use shopify::Shopify;
pub use slack::Slack;
pub use sns::{Sns, SnsMessageType};
pub use square::Square;
pub use standard::{StandardHeaders, StandardWebhooks};
pub use stripe::Stripe;
pub use svix_family::{Clerk, OpenAi, Resend, Svix};
pub use telnyx::Telnyx;
pub use twilio::Twilio;
pub use twitch::Twitch;
pub use typeform::Typeform;
pub use veriff::Veriff;
pub use webflow::Webflow;
pub use woocommerce::WooCommerce;
pub use xero::Xero;
pub use zendesk::Zendesk;
pub use zoom::Zoom;

/// How many signature candidates one request may carry.
pub const MAX_SIGNATURES: usize = 8;

/// The largest signed content a scheme may build in memory (URL plus form parameters, fields of
/// the body): schemes that buffer refuse more with a malformed-body error.
pub const MAX_BUILT_CONTENT: usize = 1 << 20;

/// What a scheme sees of a request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Request<'r> {
    /// The HTTP method, upper case (`"POST"`).
    pub method: &'r str,
    /// The public URL the sender called, with its query — behind a proxy, not the URI the server
    /// saw. Only schemes that sign the URL (Twilio, Square) need it.
    pub url: Option<&'r str>,
    /// The request headers.
    pub headers: &'r HeaderMap,
    /// The raw body, exactly as received.
    pub body: &'r [u8],
}

impl<'r> Request<'r> {
    /// A `POST` request with these headers and body and no public URL.
    pub fn new(headers: &'r HeaderMap, body: &'r [u8]) -> Self {
        Self {
            method: "POST",
            url: None,
            headers,
            body,
        }
    }

    /// Sets the method.
    #[must_use]
    pub fn method(mut self, method: &'r str) -> Self {
        self.method = method;
        self
    }

    /// Sets the public URL the sender called.
    #[must_use]
    pub fn url(mut self, url: &'r str) -> Self {
        self.url = Some(url);
        self
    }

    /// The public URL, or an error naming what to configure.
    pub fn require_url(&self) -> Result<&'r str, VerifyError> {
        self.url.ok_or(VerifyError::NoPublicUrl)
    }
}

/// How old and how far in the future a signed timestamp may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tolerance {
    /// How old a timestamp may be.
    pub past: Duration,
    /// How far ahead of the receiver's clock a timestamp may be (clock skew).
    pub future: Duration,
}

impl Tolerance {
    /// A tolerance of `past` and `future`.
    pub const fn new(past: Duration, future: Duration) -> Self {
        Self { past, future }
    }

    /// The same tolerance both ways.
    pub const fn symmetric(both: Duration) -> Self {
        Self::new(both, both)
    }
}

/// How one provider signs requests.
///
/// Implementations must be cheap to call: [`parse`](Scheme::parse) and
/// [`signed_content`](Scheme::signed_content) run on every request, and should not allocate
/// unless the provider's scheme needs a buffer.
pub trait Scheme: fmt::Debug + Send + Sync + 'static {
    /// A short, stable name (`"stripe"`): reported in [`Verified`](crate::Verified) and used in
    /// dedup namespaces.
    fn name(&self) -> &str;

    /// How this provider shows its keys. Defaults to [`KeyFormat::Raw`].
    fn key_format(&self) -> KeyFormat {
        KeyFormat::Raw
    }

    /// Parses a key written as the provider shows it. Defaults to [`Key::parse`] with
    /// [`key_format`](Scheme::key_format); override for provider-specific normalisation.
    fn parse_key(&self, text: &str) -> Result<Key, ConfigError> {
        Key::parse(self.key_format(), text)
    }

    /// How signatures are encoded.
    fn encoding(&self) -> Encoding;

    /// Every algorithm [`parse`](Scheme::parse) may report; a keyed MAC state is precomputed per
    /// secret for each HMAC. The first HMAC listed also keys deliveries without a signed id, so
    /// one delivery has one dedup key whichever of its signatures was checked. Defaults to
    /// HMAC-SHA256 only.
    fn algorithms(&self) -> &[Algorithm] {
        &[Algorithm::HmacSha256]
    }

    /// Whether the signature covers a timestamp. If it does, every request must carry one
    /// (from [`parse`](Scheme::parse), or else [`body_timestamp`](Scheme::body_timestamp)) and it
    /// is checked against the tolerance; a request without one is malformed. Schemes without one
    /// cannot refuse replays by time, so the receiver remembers their deliveries longer.
    fn has_timestamp(&self) -> bool;

    /// The tolerance the provider documents, used unless the verifier is configured otherwise.
    /// Defaults to 5 minutes each way.
    fn default_tolerance(&self) -> Tolerance {
        Tolerance::symmetric(Duration::from_secs(300))
    }

    /// Whether this scheme verifies with keys fetched at run time (AWS SNS and PayPal
    /// certificates, Plaid's JWKs): each request names its key ([`Parsed::with_key_ref`]), a
    /// [`KeyCache`](crate::keysource::KeyCache) fetches it, and a verifier of this scheme may be
    /// built with no key configured (a key configured anyway is pinned: it is the only one
    /// used, and nothing is fetched). Defaults to `false`.
    fn fetches_keys(&self) -> bool {
        false
    }

    /// Parses the document a [`KeySource`](crate::keysource::KeySource) fetched for `key` into
    /// the key that verifies this scheme's requests, refusing documents the provider would not
    /// serve. Defaults to [`RemoteKey::from_certificate`] for a certificate URL and
    /// [`RemoteKey::from_jwk`] for a key id.
    fn parse_remote_key(&self, key: &KeyRef<'_>, document: &[u8]) -> Result<RemoteKey, KeyError> {
        match key.kind {
            KeyKind::CertificateUrl => RemoteKey::from_certificate(document),
            _ => RemoteKey::from_jwk(document),
        }
    }

    /// For schemes that fetch their keys: the key a signed request names when the signer names
    /// none ([`testing::Signer::key_id`](crate::testing::Signer::key_id)) — a certificate URL or
    /// a key id that passes this scheme's own checks, derived from `key_digest` (the SHA-256 of
    /// the signer's public key) so that two keys never share a name. Defaults to none.
    fn default_key_id(&self, key_digest: &[u8; 32]) -> Option<String> {
        let _ = key_digest;
        None
    }

    /// The HTTP status to answer a request that failed verification with. Defaults to
    /// [`VerifyError::status`] (400, 401, 413); override where the provider documents another
    /// answer (GoCardless expects 498 for a bad signature; Discord probes endpoints with
    /// invalid signatures and expects 401 for each).
    fn reject_status(&self, error: &VerifyError) -> http::StatusCode {
        error.status()
    }

    /// Reads the signature candidates, timestamp and signed id from the request.
    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError>;

    /// Feeds the exact signed bytes, in order, to `feed`. Not called when `parse` built the
    /// content itself ([`Parsed::push_content`], [`Parsed::push_signed_part`]).
    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    );

    /// A timestamp in milliseconds read from the verified body (Linear's `webhookTimestamp`),
    /// for schemes whose timestamp is not in the headers. Called only after the signature
    /// matched, and only when `parse` found no timestamp. Defaults to none.
    fn body_timestamp(&self, _body: &[u8]) -> Option<i64> {
        None
    }

    /// Where the event id covered by the signature is. Defaults to the id
    /// [`parse`](Scheme::parse) found (none if it found none).
    fn event_id(&self) -> EventIdSource {
        EventIdSource::Parsed
    }

    /// The timestamp text this provider sends for `unix_millis`. Defaults to Unix seconds.
    fn format_timestamp(&self, unix_millis: i64) -> String {
        unix_millis.div_euclid(1000).to_string()
    }

    /// Writes the headers a sender would send for `parsed` (id and timestamp) and `signature`
    /// (already encoded in [`encoding`](Scheme::encoding)). Used by the default
    /// [`sign`](Scheme::sign).
    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError>;

    /// Signs `draft` as the provider would, writing headers (and, for providers that sign
    /// inside the body, the body) into `out`. Used by [`testing::Signer`](crate::testing::Signer).
    ///
    /// The default computes the signature over [`signed_content`](Scheme::signed_content) of a
    /// [`Parsed`] holding the draft's id and timestamp, then calls
    /// [`write_headers`](Scheme::write_headers).
    fn sign(
        &self,
        draft: &Draft<'_>,
        signer: &mut dyn SignContent,
        out: &mut SignedRequest,
    ) -> Result<(), ConfigError> {
        let text = self.format_timestamp(draft.timestamp_millis);
        let parsed = Parsed::new(draft.algorithm)
            .with_id(draft.id)
            .with_timestamp(Timestamp::new(draft.timestamp_millis, &text));
        let headers = HeaderMap::new();
        let mut request = Request::new(&headers, draft.body).method(draft.method);
        request.url = draft.url;
        let signature = signer.sign(draft.algorithm, &mut |feed| {
            self.signed_content(&parsed, &request, feed);
        })?;
        out.body = draft.body.to_vec();
        self.write_headers(&parsed, &signature, &mut out.headers)
    }
}

/// A request to sign, as [`testing::Signer`](crate::testing::Signer) describes it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Draft<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The URL the sender calls, for schemes that sign it.
    pub url: Option<&'a str>,
    /// The event id, for schemes that sign one.
    pub id: &'a str,
    /// The signing time in milliseconds since the Unix epoch.
    pub timestamp_millis: i64,
    /// The body to send.
    pub body: &'a [u8],
    /// The algorithm to sign with.
    pub algorithm: Algorithm,
    /// The key the request names, for schemes that fetch their keys: the certificate URL (AWS
    /// SNS `SigningCertURL`, PayPal `PAYPAL-CERT-URL`) or the key id (Plaid's JWT `kid`).
    pub key_id: Option<&'a str>,
}

/// What [`Scheme::sign`] produces.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SignedRequest {
    /// The headers to send.
    pub headers: HeaderMap,
    /// The body to send.
    pub body: Vec<u8>,
}

/// Feeds signed content, piece by piece, to the function it is given.
pub type FeedContent<'a> = dyn FnMut(&mut dyn FnMut(&[u8])) + 'a;

/// Signs content with the signer's key, for [`Scheme::sign`].
pub trait SignContent {
    /// The signature over the pieces `content` feeds, encoded as the scheme's signatures are
    /// (a token is returned as its text).
    fn sign(
        &mut self,
        algorithm: Algorithm,
        content: &mut FeedContent<'_>,
    ) -> Result<String, ConfigError>;
}

/// Where a scheme's signed event id is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventIdSource {
    /// The scheme has no signed event id; deliveries are deduplicated by a digest of what was
    /// signed.
    None,
    /// The id [`Scheme::parse`] found in a signed header (Standard Webhooks `webhook-id`), if
    /// any.
    Parsed,
    /// A string or integer at this path of a JSON object body (Stripe `["id"]`, Telnyx
    /// `["data", "id"]`), read only when asked for, after the signature matched.
    Json(&'static [&'static str]),
}

/// A signed timestamp as read from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timestamp<'r> {
    /// Milliseconds since the Unix epoch.
    pub millis: i64,
    /// The text as sent, for schemes that sign it verbatim.
    pub text: Cow<'r, str>,
}

impl<'r> Timestamp<'r> {
    /// A timestamp with its text.
    pub fn new(millis: i64, text: impl Into<Cow<'r, str>>) -> Self {
        Self {
            millis,
            text: text.into(),
        }
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix(&self) -> i64 {
        self.millis.div_euclid(1000)
    }
}

/// What a scheme read from a request, before any signature is checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Parsed<'r> {
    /// The algorithm of candidates pushed with [`push_signature`](Parsed::push_signature).
    pub algorithm: Algorithm,
    /// The header the signatures came from, named in errors.
    pub signature_header: Option<&'r HeaderName>,
    /// The signed timestamp, if the scheme has one in the request's headers or signature.
    pub timestamp: Option<Timestamp<'r>>,
    /// The event id, only if the signature covers it.
    pub id: Option<Cow<'r, str>>,
    // Candidates borrowed from the request, the common case: kept small, since a `Parsed` is
    // built and moved on every request.
    signatures: [&'r str; MAX_SIGNATURES],
    algorithms: [Algorithm; MAX_SIGNATURES],
    count: u8,
    /// What only some schemes need, allocated only by them.
    extra: Option<Box<Extra<'r>>>,
}

/// The parts of a [`Parsed`] that only some schemes use.
#[derive(Debug, Clone, Default)]
struct Extra<'r> {
    /// Candidates that could not be borrowed (a JSON string with escapes).
    owned: Vec<(Algorithm, String)>,
    /// The key the request names, for schemes that fetch their keys.
    key_ref: Option<KeyRef<'r>>,
    contents: Vec<Vec<u8>>,
    parts: Vec<SignedPart<'r>>,
}

/// A piece of a request signed on its own (one item of a batch), with its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedPart<'r> {
    pub(crate) content: Vec<u8>,
    pub(crate) signature: Cow<'r, str>,
}

impl<'r> Parsed<'r> {
    /// An empty parse result whose signatures are made with `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        Self {
            algorithm,
            signature_header: None,
            timestamp: None,
            id: None,
            signatures: [""; MAX_SIGNATURES],
            algorithms: [algorithm; MAX_SIGNATURES],
            count: 0,
            extra: None,
        }
    }

    /// Names the key, fetched at run time, that verifies this request (for schemes whose
    /// [`fetches_keys`](Scheme::fetches_keys) is true). Check a certificate URL against the
    /// provider's hosts before naming it: the key source fetches whatever is named here.
    #[must_use]
    pub fn with_key_ref(mut self, key: KeyRef<'r>) -> Self {
        self.extra().key_ref = Some(key);
        self
    }

    /// The key this request names, if any.
    pub fn key_ref(&self) -> Option<&KeyRef<'r>> {
        self.extra.as_ref()?.key_ref.as_ref()
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
    pub fn with_id(mut self, id: impl Into<Cow<'r, str>>) -> Self {
        self.id = Some(id.into());
        self
    }

    fn extra(&mut self) -> &mut Extra<'r> {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Adds a signature candidate of [`algorithm`](Parsed::algorithm) (still encoded, prefix
    /// removed). Returns `false` when [`MAX_SIGNATURES`] are already present.
    pub fn push_signature(&mut self, encoded: impl Into<Cow<'r, str>>) -> bool {
        self.push_signature_with(self.algorithm, encoded)
    }

    /// Adds a signature candidate made with `algorithm` (a header may mix HMAC and Ed25519
    /// signatures, as Standard Webhooks `v1` and `v1a` do).
    pub fn push_signature_with(
        &mut self,
        algorithm: Algorithm,
        encoded: impl Into<Cow<'r, str>>,
    ) -> bool {
        if self.signature_count() == MAX_SIGNATURES {
            return false;
        }
        match encoded.into() {
            Cow::Borrowed(text) => {
                let i = usize::from(self.count);
                self.signatures[i] = text;
                self.algorithms[i] = algorithm;
                self.count += 1;
            }
            Cow::Owned(text) => self.extra().owned.push((algorithm, text)),
        }
        true
    }

    /// The signature candidates, still encoded, with their algorithms.
    pub fn signatures(&self) -> impl Iterator<Item = (Algorithm, &str)> {
        let count = usize::from(self.count);
        let borrowed = self.algorithms[..count]
            .iter()
            .copied()
            .zip(self.signatures[..count].iter().copied());
        let owned = self
            .extra
            .iter()
            .flat_map(|extra| extra.owned.iter().map(|(a, text)| (*a, text.as_str())));
        borrowed.chain(owned)
    }

    /// The number of signature candidates.
    pub fn signature_count(&self) -> usize {
        usize::from(self.count) + self.extra.as_ref().map_or(0, |extra| extra.owned.len())
    }

    /// Adds a complete signed content the scheme built itself. When any is present the verifier
    /// checks each (the provider may have signed any of these forms, as Twilio's URL with or
    /// without its default port) instead of calling [`Scheme::signed_content`].
    pub fn push_content(&mut self, content: Vec<u8>) {
        self.extra().contents.push(content);
    }

    /// The contents pushed with [`push_content`](Parsed::push_content).
    pub fn contents(&self) -> &[Vec<u8>] {
        self.extra.as_ref().map_or(&[], |extra| &extra.contents)
    }

    /// Adds a part of the request that carries its own signature (still encoded, in the
    /// scheme's [`encoding`](Scheme::encoding), made with [`algorithm`](Parsed::algorithm)) over
    /// `content`, as Adyen signs each item of a batch.
    ///
    /// When any part is present the request verifies only if **every** part's signature matches
    /// its own content under one and the same key; signatures and contents pushed otherwise are
    /// not checked. The dedup digest of the delivery covers every part.
    pub fn push_signed_part(&mut self, content: Vec<u8>, signature: impl Into<Cow<'r, str>>) {
        self.extra().parts.push(SignedPart {
            content,
            signature: signature.into(),
        });
    }

    /// The parts pushed with [`push_signed_part`](Parsed::push_signed_part): each content with
    /// its signature, still encoded.
    pub fn signed_parts(&self) -> impl Iterator<Item = (&[u8], &str)> {
        self.parts()
            .iter()
            .map(|part| (part.content.as_slice(), &*part.signature))
    }

    pub(crate) fn parts(&self) -> &[SignedPart<'r>] {
        self.extra.as_ref().map_or(&[], |extra| &extra.parts)
    }
}

/// The first of `names` present in `headers`, with its name: for "header A, else header B"
/// fallbacks. Each value is as [`header_str`] gives it.
pub fn first_header<'r>(
    headers: &'r HeaderMap,
    names: &[&'r HeaderName],
) -> Result<Option<(&'r HeaderName, &'r str)>, VerifyError> {
    for &name in names {
        if let Some(value) = header_str(headers, name)? {
            return Ok(Some((name, value)));
        }
    }
    Ok(None)
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

/// Digits of a canonical non-negative integer: ASCII digits only (no sign, fraction, exponent or
/// spaces), no leading zero unless the number is `0`, at most `max` of them.
fn canonical_digits(text: &str, max: usize) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > max || (bytes.len() > 1 && bytes[0] == b'0') {
        return None;
    }
    let mut n: i64 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    Some(n)
}

/// Parses a Unix-seconds timestamp: ASCII digits only (no sign, fraction, exponent, or leading
/// zero — `0012` would let digits move between signed fields), at most 15 of them.
pub fn parse_unix_seconds<'r>(
    name: &HeaderName,
    text: &'r str,
) -> Result<Timestamp<'r>, VerifyError> {
    canonical_digits(text, 15)
        .map(|secs| Timestamp::new(secs * 1000, text))
        .ok_or_else(|| {
            VerifyError::malformed(name, "timestamp is not a canonical integer of seconds")
        })
}

/// Parses a Unix-milliseconds timestamp, with the rules of [`parse_unix_seconds`].
pub fn parse_unix_millis<'r>(
    name: &HeaderName,
    text: &'r str,
) -> Result<Timestamp<'r>, VerifyError> {
    canonical_digits(text, 18)
        .map(|millis| Timestamp::new(millis, text))
        .ok_or_else(|| {
            VerifyError::malformed(name, "timestamp is not a canonical integer of milliseconds")
        })
}

/// Parses an RFC 3339 timestamp (`2016-07-11T10:10:33-07:00`, fractions down to nanoseconds);
/// the text is kept verbatim for schemes that sign it.
pub fn parse_rfc3339<'r>(name: &HeaderName, text: &'r str) -> Result<Timestamp<'r>, VerifyError> {
    let invalid = || VerifyError::malformed(name, "timestamp is not an RFC 3339 date-time");
    if text.len() > 64 {
        return Err(invalid());
    }
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| invalid())?;
    let millis =
        i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).map_err(|_| invalid())?;
    Ok(Timestamp::new(millis, text))
}

/// Formats `unix_millis` as RFC 3339 in UTC with millisecond precision, for signing helpers.
pub(crate) fn format_rfc3339(unix_millis: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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

/// Reads a `key=value` list (`t=1,v1=ab,v1=cd`) split at `sep`: every `key=value` item is handed
/// to `item` (surrounding spaces trimmed, empty items skipped); an item without `=` is malformed.
pub(crate) fn key_values<'r>(
    name: &HeaderName,
    value: &'r str,
    sep: u8,
    mut item: impl FnMut(&'r str, &'r str) -> Result<(), VerifyError>,
) -> Result<(), VerifyError> {
    for part in split_byte(value, sep) {
        let part = part.trim_ascii();
        if part.is_empty() {
            continue;
        }
        let Some((key, val)) = split_once_byte(part, b'=') else {
            return Err(VerifyError::malformed(name, "an item is not `key=value`"));
        };
        item(key.trim_ascii(), val.trim_ascii())?;
    }
    Ok(())
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

/// A JSON leaf read by [`json_path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonLeaf<'r> {
    Str(Cow<'r, str>),
    Int(i64),
}

impl<'r> JsonLeaf<'r> {
    /// The leaf as text: a string as is, an integer in decimal.
    pub(crate) fn into_text(self) -> Cow<'r, str> {
        match self {
            Self::Str(s) => s,
            Self::Int(n) => Cow::Owned(n.to_string()),
        }
    }
}

/// Reads the string or integer at `path` in a JSON object body (`["data", "id"]`).
///
/// Parsing stops as soon as the value is read, so an id near the start (Stripe puts `id` first)
/// costs a few bytes of parsing whatever the body's size, and nothing is allocated unless the
/// value contains escapes. The body's signature was already verified, so the rest of it is not
/// validated here. `None` if the body is not a JSON object, the path is absent, or the value is
/// not a non-empty string or an integer. The first occurrence of a repeated key is used.
pub(crate) fn json_path<'r>(body: &'r [u8], path: &[&str]) -> Option<JsonLeaf<'r>> {
    use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

    /// Deserializes a key, borrowing it when it has no escapes.
    struct Key<'de>(Cow<'de, str>);

    impl<'de> de::Deserialize<'de> for Key<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Key<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                    Ok(Key(Cow::Borrowed(v)))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                    Ok(Key(Cow::Owned(v.to_owned())))
                }
            }
            d.deserialize_str(V)
        }
    }

    /// The leaf value: a string or an integer, anything else is `None`.
    struct Leaf;

    impl<'de> DeserializeSeed<'de> for Leaf {
        type Value = Option<JsonLeaf<'de>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Leaf {
        type Value = Option<JsonLeaf<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(JsonLeaf::Str(Cow::Borrowed(v))))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(JsonLeaf::Str(Cow::Owned(v.to_owned()))))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(JsonLeaf::Int(v)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(i64::try_from(v).ok().map(JsonLeaf::Int))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }

    /// Looks for `path[0]` in an object and descends; the result goes to `found` so that
    /// stopping early (which the deserializer reports as an error, the object being unfinished)
    /// still yields it.
    struct Find<'f, 'p, 'de> {
        path: &'p [&'p str],
        found: &'f mut Option<JsonLeaf<'de>>,
    }

    impl<'de> DeserializeSeed<'de> for Find<'_, '_, 'de> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Find<'_, '_, 'de> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let Some((first, rest)) = self.path.split_first() else {
                return Ok(());
            };
            while let Some(key) = map.next_key::<Key<'de>>()? {
                if key.0 == *first {
                    if rest.is_empty() {
                        *self.found = map.next_value_seed(Leaf)?;
                    } else {
                        map.next_value_seed(Find {
                            path: rest,
                            found: &mut *self.found,
                        })?;
                    }
                    // Stop here: an error from the unfinished object is expected.
                    return Err(de::Error::custom("found"));
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }

        // Anything but an object at a step of the path: not found.
        fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(())
        }
    }

    if path.is_empty() || body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    // An error after the value was read only means the object was left unfinished; one before
    // it means the body is not JSON up to there, and `found` stays empty.
    let _ = Find {
        path,
        found: &mut found,
    }
    .deserialize(&mut de);
    found.filter(|leaf| !matches!(leaf, JsonLeaf::Str(s) if s.is_empty()))
}

/// Reads the string at `path` in a JSON object body; see [`json_path`].
pub(crate) fn json_str<'r>(body: &'r [u8], path: &[&str]) -> Option<Cow<'r, str>> {
    match json_path(body, path)? {
        JsonLeaf::Str(s) => Some(s),
        JsonLeaf::Int(_) => None,
    }
}

/// The decoded `application/x-www-form-urlencoded` pairs of `body` (`+` is a space).
pub(crate) fn form_pairs(body: &[u8]) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(body)
}

/// The decoded value of form field `key` (the first one), if present.
pub(crate) fn form_field<'r>(body: &'r [u8], key: &str) -> Option<Cow<'r, str>> {
    form_pairs(body).find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Whether `body` looks like a JSON object (first non-space byte `{`).
pub(crate) fn is_json_object(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = HeaderName::from_static("t");
        assert_eq!(
            parse_unix_seconds(&t, "1614265330").unwrap().unix(),
            1614265330
        );
        assert_eq!(parse_unix_seconds(&t, "0").unwrap().millis, 0);
        for bad in [
            "",
            "-1",
            "+1",
            "1.5",
            "1e9",
            " 1",
            "01",
            "001614265330",
            "1234567890123456",
            "abc",
            "١٢",
        ] {
            assert!(parse_unix_seconds(&t, bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_unix_seconds(&t, "999999999999999").unwrap().millis,
            999_999_999_999_999_000
        );
        assert_eq!(
            parse_unix_millis(&t, "1693657560000").unwrap().unix(),
            1693657560
        );
        assert!(parse_unix_millis(&t, "01693657560000").is_err());
        let r = parse_rfc3339(&t, "2016-07-11T10:10:33-07:00").unwrap();
        assert_eq!(r.unix(), 1468257033);
        let n = parse_rfc3339(&t, "2019-11-16T10:11:12.634234626Z").unwrap();
        assert_eq!(n.millis, 1573899072634);
        assert_eq!(n.text, "2019-11-16T10:11:12.634234626Z");
        for bad in [
            "2016-07-11",
            "2016-07-11T10:10:33",
            "yesterday",
            "1468257033",
        ] {
            assert!(parse_rfc3339(&t, bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_rfc3339(1573899072634), "2019-11-16T10:11:12.634Z");
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
    fn json_paths() {
        let s = |body: &[u8], path: &[&str]| json_str(body, path).map(Cow::into_owned);
        assert_eq!(
            s(br#"{"a":{"id":"no"},"id":"evt_1","z":[1,2]}"#, &["id"]).as_deref(),
            Some("evt_1")
        );
        assert_eq!(s(br#"{"id":"e\"v"}"#, &["id"]).as_deref(), Some("e\"v"));
        assert_eq!(s(br#"{"id":5}"#, &["id"]), None);
        assert_eq!(json_path(br#"{"id":5}"#, &["id"]), Some(JsonLeaf::Int(5)));
        assert_eq!(json_path(br#"{"id":5.5}"#, &["id"]), None);
        assert_eq!(s(br#"{"id":""}"#, &["id"]), None);
        assert_eq!(s(br#"{"id":null}"#, &["id"]), None);
        assert_eq!(s(b"not json", &["id"]), None);
        assert_eq!(s(br#"{"a":[1,{"id":"nested"}]}"#, &["id"]), None);
        assert_eq!(
            s(br#"{"a":1,"id":"x", garbage"#, &["id"]).as_deref(),
            Some("x")
        );
        assert_eq!(s(br#"[{"id":"x"}]"#, &["id"]), None);
        assert_eq!(
            s(
                br#"{"data":{"x":[{}],"id":"d1"},"id":"top"}"#,
                &["data", "id"]
            )
            .as_deref(),
            Some("d1")
        );
        assert_eq!(s(br#"{"data":"str","id":"top"}"#, &["data", "id"]), None);
        assert_eq!(s(br#"{"data":{"id":{"x":1}}}"#, &["data", "id"]), None);
        assert_eq!(
            s(br#"{"id":"first","id":"second"}"#, &["id"]).as_deref(),
            Some("first")
        );
        assert_eq!(s(br#"{"id":"x"}"#, &[]), None);
    }

    #[test]
    fn forms() {
        assert_eq!(
            form_field(b"a=1&token=x%20y+z&token=2", "token").as_deref(),
            Some("x y z")
        );
        assert_eq!(form_field(b"a=1", "token"), None);
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
        assert_eq!(first_header(&h, &[&b, &a]).unwrap(), Some((&a, "v")));
        h.append(&a, HeaderValue::from_static("w"));
        assert!(header_str(&h, &a).is_err());
        h.insert(&b, HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert!(header_str(&h, &b).is_err());
        h.insert(&c, HeaderValue::from_static("   "));
        assert!(header_str(&h, &c).is_err());
    }
}
