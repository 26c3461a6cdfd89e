//! The verifier: body limit, tolerance window, one signature check per key, constant-time
//! comparison.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use sha2::Digest as _;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::clock::{Clock, SystemClock};
use crate::encoding::{
    Algorithm, Encoding, KeyedMacs, MAX_RSA_SIG, MAX_SIG, decode_into, decode_signature,
};
use crate::error::{ConfigError, VerifyError};
use crate::keysource::{KeyRef, RemoteKey};
use crate::providers::{
    EventIdSource, JsonLeaf, MAX_SIGNATURES, Parsed, Request, Scheme, json_path,
};
use crate::secret::{Key, PublicKey, PublicKeyInner};

/// Default tolerance for timestamps in the past and in the future: 5 minutes each (schemes may
/// document another, see [`Scheme::default_tolerance`]).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Default body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;
/// The longest tolerance either way: one year.
pub const MAX_TOLERANCE: Duration = Duration::from_secs(365 * 24 * 3600);
/// The largest body limit: 1 GiB (adapters buffer the body in memory).
pub const MAX_BODY_LIMIT: usize = 1 << 30;

/// One configured key: its label and what verifies with it.
struct KeyEntry {
    label: Option<Box<str>>,
    material: Material,
}

// Keys live in a boxed slice, one entry per configured key: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Material {
    /// Pre-keyed HMAC states, and the SHA-256 of the secret for plain-token comparison.
    Secret {
        macs: KeyedMacs,
        token: Option<[u8; 32]>,
    },
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    Rsa(Arc<rsa::PublicKey>),
}

impl Material {
    fn public(key: &PublicKey) -> Self {
        match &key.0 {
            PublicKeyInner::Ed25519(k) => Self::Ed25519(*k),
            PublicKeyInner::P256(k) => Self::P256(*k),
            PublicKeyInner::Rsa(k) => Self::Rsa(Arc::clone(k)),
        }
    }
}

/// Decides whether a request is authentic and fresh.
///
/// Built with [`Verifier::builder`]; cheap to share (`Arc`) and `Sync`.
///
/// ```
/// use webhook_receiver::{Verifier, providers::StandardWebhooks, testing::Signer};
///
/// let verifier = Verifier::builder(StandardWebhooks::new())
///     .secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
///     .build()?;
///
/// let body = br#"{"type":"invoice.paid"}"#;
/// let headers = Signer::new(StandardWebhooks::new(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?
///     .id("msg_1")
///     .sign(body)?;
///
/// let verified = verifier.verify(&headers, body)?;
/// assert_eq!(verified.event_id().as_deref(), Some("msg_1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Verifier {
    scheme: Box<dyn Scheme>,
    /// The scheme's HMAC algorithms, in its order (the first also digests deliveries without
    /// a signed id).
    hmacs: Box<[Algorithm]>,
    keys: Box<[KeyEntry]>,
    fingerprint: [u8; 8],
    tolerance_past: Duration,
    tolerance_future: Duration,
    body_limit: usize,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<_> = self.keys.iter().map(|k| k.label.as_deref()).collect();
        f.debug_struct("Verifier")
            .field("scheme", &self.scheme)
            .field(
                "keys",
                &format_args!("{} [redacted], labels {labels:?}", self.keys.len()),
            )
            .field("tolerance_past", &self.tolerance_past)
            .field("tolerance_future", &self.tolerance_future)
            .field("body_limit", &self.body_limit)
            .field("clock", &self.clock)
            .finish()
    }
}

/// Configures a [`Verifier`]. Every setter documents its default; settings are checked by
/// [`build`](VerifierBuilder::build).
pub struct VerifierBuilder {
    scheme: Box<dyn Scheme>,
    keys: Vec<(Option<String>, Result<Key, ConfigError>)>,
    tolerance_past: Option<Duration>,
    tolerance_future: Option<Duration>,
    body_limit: usize,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("scheme", &self.scheme)
            .field("keys", &format_args!("{} [redacted]", self.keys.len()))
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    /// Adds a key — a shared secret, or a public key for schemes that sign with a private one —
    /// written as the provider shows it (parsed by [`Scheme::parse_key`]). Add several to rotate:
    /// every one is tried, in order.
    #[must_use]
    pub fn secret(mut self, secret: &str) -> Self {
        let parsed = self.scheme.parse_key(secret);
        self.keys.push((None, parsed));
        self
    }

    /// Adds a public key as the provider shows it; the same as [`secret`](Self::secret), named
    /// for readability (Discord's application public key, SendGrid's verification key).
    #[must_use]
    pub fn public_key(self, key: &str) -> Self {
        self.secret(key)
    }

    /// Adds a key with a label (`"2026-11"`, `"previous"`); [`Verified::key_label`] reports the
    /// label of the key that matched, so operators see when an old one stops being used.
    #[must_use]
    pub fn labeled_secret(mut self, label: impl Into<String>, secret: &str) -> Self {
        let parsed = self.scheme.parse_key(secret);
        self.keys.push((Some(label.into()), parsed));
        self
    }

    /// Adds an already-parsed key, optionally labelled.
    #[must_use]
    pub fn key(mut self, label: Option<String>, key: impl Into<Key>) -> Self {
        self.keys.push((label, Ok(key.into())));
        self
    }

    /// Adds an already-decoded secret, optionally labelled.
    #[must_use]
    pub fn raw_secret(self, label: Option<String>, secret: crate::Secret) -> Self {
        self.key(label, Key::Secret(secret))
    }

    /// Sets both tolerances. Default: the scheme's ([`Scheme::default_tolerance`]; 5 minutes
    /// each way for most). At most [`MAX_TOLERANCE`].
    #[must_use]
    pub fn tolerance(self, tolerance: Duration) -> Self {
        self.tolerance_past(tolerance).tolerance_future(tolerance)
    }

    /// How old a signed timestamp may be. Default: the scheme's. At most [`MAX_TOLERANCE`].
    #[must_use]
    pub fn tolerance_past(mut self, tolerance: Duration) -> Self {
        self.tolerance_past = Some(tolerance);
        self
    }

    /// How far in the future a signed timestamp may be (clock skew). Default: the scheme's —
    /// 5 minutes also for Stripe, whose SDKs do not check the future at all. At most
    /// [`MAX_TOLERANCE`].
    #[must_use]
    pub fn tolerance_future(mut self, tolerance: Duration) -> Self {
        self.tolerance_future = Some(tolerance);
        self
    }

    /// Largest accepted body in bytes. Default: 1 MiB ([`DEFAULT_BODY_LIMIT`]); from 1 byte to
    /// [`MAX_BODY_LIMIT`]. GitHub caps its payloads at 25 MB; raise the limit for large push
    /// events.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The time source. Default: [`SystemClock`].
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the verifier, computing each secret's keyed MAC state once.
    ///
    /// Errors when no key was given (unless the scheme fetches its keys at run time,
    /// [`Scheme::fetches_keys`]), a key is empty or cannot be decoded (the error names the
    /// label, never the value), a key does not fit the scheme's algorithms, or a setting is out
    /// of range (the error names it).
    pub fn build(self) -> Result<Verifier, ConfigError> {
        if self.keys.is_empty() && !self.scheme.fetches_keys() {
            return Err(ConfigError::NoSecret);
        }
        if self.body_limit == 0 || self.body_limit > MAX_BODY_LIMIT {
            return Err(ConfigError::invalid(
                "body_limit",
                format!("must be from 1 byte to {MAX_BODY_LIMIT} bytes"),
            ));
        }
        let default = self.scheme.default_tolerance();
        let tolerance_past = self.tolerance_past.unwrap_or(default.past);
        let tolerance_future = self.tolerance_future.unwrap_or(default.future);
        for (setting, value) in [
            ("tolerance_past", tolerance_past),
            ("tolerance_future", tolerance_future),
        ] {
            if value > MAX_TOLERANCE {
                return Err(ConfigError::invalid(setting, "must be at most one year"));
            }
        }
        let algorithms = self.scheme.algorithms();
        if algorithms.is_empty() {
            return Err(ConfigError::invalid("scheme", "declares no algorithm"));
        }
        let mut keys = Vec::with_capacity(self.keys.len());
        let mut fingerprint = None;
        for (label, key) in self.keys {
            let key = key.map_err(|e| e.with_label(label.as_deref()))?;
            let mismatch = |reason| ConfigError::InvalidSecret {
                label: label.clone(),
                reason,
            };
            let material = match &key {
                Key::Secret(secret) => {
                    if !algorithms
                        .iter()
                        .any(|a| a.is_hmac() || *a == Algorithm::Token)
                    {
                        return Err(mismatch(
                            "a shared secret, but this scheme verifies with a public key",
                        ));
                    }
                    let token = algorithms
                        .contains(&Algorithm::Token)
                        .then(|| sha2::Sha256::digest(secret.as_bytes()).into());
                    Material::Secret {
                        macs: KeyedMacs::new(algorithms, secret.as_bytes()),
                        token,
                    }
                }
                Key::Public(public) => {
                    if !public.fits(algorithms) {
                        return Err(mismatch(
                            "a public key of an algorithm this scheme does not use",
                        ));
                    }
                    Material::public(public)
                }
            };
            fingerprint.get_or_insert_with(|| key.fingerprint());
            keys.push(KeyEntry {
                label: label.map(Into::into),
                material,
            });
        }
        let hmacs = algorithms.iter().copied().filter(|a| a.is_hmac()).collect();
        Ok(Verifier {
            hmacs,
            scheme: self.scheme,
            keys: keys.into(),
            fingerprint: fingerprint.unwrap_or_default(),
            tolerance_past,
            tolerance_future,
            body_limit: self.body_limit,
            clock: self.clock,
        })
    }
}

/// A decoded signature candidate.
#[derive(Clone, Copy)]
struct Decoded<'p> {
    algorithm: Algorithm,
    len: u8,
    bytes: [u8; MAX_SIG],
    /// The candidate as sent (plain tokens are compared as text, RSA signatures decoded when a
    /// key checks them).
    text: &'p str,
}

impl<'p> Decoded<'p> {
    const EMPTY: Self = Self {
        algorithm: Algorithm::HmacSha256,
        len: 0,
        bytes: [0; MAX_SIG],
        text: "",
    };

    /// Decodes `text` in place for `algorithm` (a token is kept as text, an RSA signature
    /// checked and kept as text: it is decoded again when a key checks it); `false` if it is
    /// not valid in `encoding` or not of the algorithm's length.
    fn decode(&mut self, algorithm: Algorithm, text: &'p str, encoding: Encoding) -> bool {
        self.algorithm = algorithm;
        self.text = text;
        if algorithm.is_rsa() {
            let mut bytes = [0u8; MAX_RSA_SIG];
            return decode_into(text, encoding, &mut bytes)
                .is_some_and(|len| algorithm.accepts_len(len));
        }
        if algorithm == Algorithm::Token {
            return true;
        }
        match decode_signature(text, encoding, &mut self.bytes) {
            Some(len) if algorithm.accepts_len(len) => {
                // MAX_SIG < 256.
                self.len = len as u8;
                true
            }
            _ => false,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Verifier {
    /// Starts configuring a verifier for `scheme`.
    pub fn builder(scheme: impl Scheme) -> VerifierBuilder {
        VerifierBuilder {
            scheme: Box::new(scheme),
            keys: Vec::new(),
            tolerance_past: None,
            tolerance_future: None,
            body_limit: DEFAULT_BODY_LIMIT,
            clock: Arc::new(SystemClock),
        }
    }

    /// The scheme.
    pub fn scheme(&self) -> &dyn Scheme {
        // Not `Box<dyn Scheme>`'s own `Scheme` impl: straight to the vtable.
        &*self.scheme
    }

    /// The number of configured keys (a fetched key is checked after them, at this index).
    pub(crate) fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The body limit in bytes; adapters refuse larger bodies before buffering them.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The past tolerance.
    pub fn tolerance_past(&self) -> Duration {
        self.tolerance_past
    }

    /// The future tolerance.
    pub fn tolerance_future(&self) -> Duration {
        self.tolerance_future
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Whether the scheme signs a timestamp (so replays are refused by time).
    pub fn has_timestamp(&self) -> bool {
        self.scheme().has_timestamp()
    }

    /// A short identifier of the first configured key, derived so that it reveals nothing a
    /// signed request would not (a keyed digest for secrets): the default dedup namespace of a
    /// [`Receiver`](crate::Receiver) includes it, so endpoints with different keys never share
    /// dedup keys. All zeros when no key is configured (schemes that fetch their keys): give
    /// such endpoints a namespace each when they share a store.
    pub fn key_fingerprint(&self) -> String {
        hex::encode(self.fingerprint)
    }

    /// Verifies a `POST` with these headers and body against the clock's current time, for
    /// schemes that do not sign the URL.
    pub fn verify<'a>(
        &'a self,
        headers: &'a HeaderMap,
        body: &'a [u8],
    ) -> Result<Verified<'a>, VerifyError> {
        let request = Request::new(headers, body);
        let prepared = self.prepare(&request, self.clock.unix_millis())?;
        self.finish(prepared, &request, None)
    }

    /// Verifies a `POST` with these headers and body as if it arrived at `now`.
    pub fn verify_at<'a>(
        &'a self,
        headers: &'a HeaderMap,
        body: &'a [u8],
        now: OffsetDateTime,
    ) -> Result<Verified<'a>, VerifyError> {
        self.verify_request_at(&Request::new(headers, body), now)
    }

    /// Verifies a request (method, public URL, headers, body) against the clock's current time.
    pub fn verify_request<'a>(
        &'a self,
        request: &Request<'a>,
    ) -> Result<Verified<'a>, VerifyError> {
        let prepared = self.prepare(request, self.clock.unix_millis())?;
        self.finish(prepared, request, None)
    }

    /// Verifies a request as if it arrived at `now`.
    ///
    /// Order: body limit, parsing, timestamp window, then one check per key over the signed
    /// bytes against every candidate, in constant time for shared secrets (a candidate that is
    /// not valid in the scheme's encoding and length is skipped, as the providers' SDKs never
    /// match it; a header with none valid is malformed); then a timestamp
    /// read from the verified body, if the scheme keeps it there. No heap allocation on success
    /// for schemes that sign headers and body (an event id in the body is read later, only when
    /// asked for).
    pub fn verify_request_at<'a>(
        &'a self,
        request: &Request<'a>,
        now: OffsetDateTime,
    ) -> Result<Verified<'a>, VerifyError> {
        let prepared = self.prepare(request, unix_millis(now))?;
        self.finish(prepared, request, None)
    }

    /// Whether this verifier fetches its keys at run time: its scheme does
    /// ([`Scheme::fetches_keys`]) and no key is pinned. Such a verifier verifies nothing
    /// alone; verify through a [`KeyCache`](crate::keysource::KeyCache) or
    /// [`verify_request_with_key`](Self::verify_request_with_key).
    pub fn fetches_keys(&self) -> bool {
        self.keys.is_empty() && self.scheme().fetches_keys()
    }

    /// The key, fetched at run time, that a request needs (its certificate URL, its key id),
    /// after the checks that need no key: body limit, shape, timestamp window, and what the
    /// scheme checks before naming a key (a certificate URL's host). `None` for schemes whose
    /// keys are configured.
    pub fn remote_key_ref(
        &self,
        request: &Request<'_>,
    ) -> Result<Option<KeyRef<'static>>, VerifyError> {
        let prepared = self.prepare(request, self.clock.unix_millis())?;
        Ok(prepared.key_ref().cloned().map(KeyRef::into_owned))
    }

    /// Verifies a request with a key fetched at run time (and the keys configured, if any),
    /// against the clock's current time. A key not valid now (an expired certificate) verifies
    /// nothing. Most users let a [`KeyCache`](crate::keysource::KeyCache) fetch and keep keys
    /// instead.
    pub fn verify_request_with_key<'a>(
        &'a self,
        request: &Request<'a>,
        key: &RemoteKey,
    ) -> Result<Verified<'a>, VerifyError> {
        self.verify_request_with_key_at(request, key, self.clock.now())
    }

    /// [`verify_request_with_key`](Self::verify_request_with_key) as if the request arrived at
    /// `now`.
    pub fn verify_request_with_key_at<'a>(
        &'a self,
        request: &Request<'a>,
        key: &RemoteKey,
        now: OffsetDateTime,
    ) -> Result<Verified<'a>, VerifyError> {
        let prepared = self.prepare(request, unix_millis(now))?;
        let key = key.is_valid_at(now.unix_timestamp()).then_some(key);
        self.finish(prepared, request, key)
    }

    /// The checks that need no key: body limit, parsing, the timestamp window.
    #[inline]
    pub(crate) fn prepare<'a>(
        &'a self,
        request: &Request<'a>,
        now_millis: i64,
    ) -> Result<Prepared<'a>, VerifyError> {
        if request.body.len() > self.body_limit {
            return Err(VerifyError::BodyTooLarge {
                limit: self.body_limit,
            });
        }
        let parsed = self.scheme().parse(request)?;
        if let Some(ts) = &parsed.timestamp {
            self.check_window(ts.millis, now_millis)?;
        }
        Ok(Prepared { parsed, now_millis })
    }

    /// The signature checks, with the configured keys and then `remote`, and what follows a
    /// match.
    #[inline]
    pub(crate) fn finish<'a>(
        &'a self,
        prepared: Prepared<'a>,
        request: &Request<'a>,
        remote: Option<&RemoteKey>,
    ) -> Result<Verified<'a>, VerifyError> {
        let Prepared {
            mut parsed,
            now_millis,
        } = prepared;
        let body = request.body;
        let mut decoded = [Decoded::EMPTY; MAX_SIGNATURES];
        let mut count = 0;
        let encoding = self.scheme().encoding();
        // A candidate that is not valid in the encoding or length is skipped, as the providers'
        // SDKs (which compare text) never match it; a header with none valid is malformed.
        for (algorithm, text) in parsed.signatures().take(MAX_SIGNATURES) {
            if decoded[count].decode(algorithm, text, encoding) {
                count += 1;
            }
        }
        let candidates = &decoded[..count];
        if candidates.is_empty() && parsed.signatures().next().is_some() {
            return Err(malformed_signature(&parsed));
        }

        // A fetched key, checked after the configured ones and labelled as its cache says (a
        // key id, a certificate's fingerprint), else with what the request named.
        let remote = remote.map(|key| KeyEntry {
            label: key
                .label()
                .or_else(|| parsed.key_ref().map(|r| r.id.as_ref()))
                .map(Into::into),
            material: Material::public(key.key()),
        });
        let keys = || self.keys.iter().chain(remote.as_ref());
        let matched = if parsed.parts().is_empty() {
            if candidates.is_empty() {
                return Err(malformed_signature(&parsed));
            }
            keys().enumerate().find_map(|(index, key)| {
                let digest =
                    self.check_key(key, &parsed, request, parsed.contents(), candidates)?;
                Some((index, digest))
            })
        } else {
            self.check_parts(keys(), &parsed, request)?
        };
        let Some((index, digest)) = matched else {
            return Err(VerifyError::SignatureMismatch);
        };

        let timestamp = match parsed.timestamp.take() {
            Some(ts) => Some(ts.millis),
            None => match self.scheme().body_timestamp(body) {
                Some(millis) => {
                    self.check_window(millis, now_millis)?;
                    Some(millis)
                }
                None if self.scheme().has_timestamp() => {
                    return Err(VerifyError::MalformedBody {
                        reason: "the scheme signs a timestamp but the request carries none",
                    });
                }
                None => None,
            },
        };
        let event_id = match self.scheme().event_id() {
            EventIdSource::Parsed => parsed.id.take().map_or(EventId::None, EventId::Known),
            EventIdSource::Json(path) => EventId::Json { body, path },
            _ => EventId::None,
        };
        let key_label = match self.keys.get(index) {
            Some(key) => key.label.as_deref().map(Cow::Borrowed),
            None => remote
                .and_then(|key| key.label)
                .map(|label| Cow::Owned(label.into())),
        };
        Ok(Verified {
            scheme: Cow::Borrowed(self.scheme().name()),
            timestamp,
            event_id,
            digest,
            key_index: index,
            key_label,
        })
    }

    /// Checks signed parts ([`Parsed::push_signed_part`]): the first key under which every part
    /// matches its own signature, with a digest of the delivery (the part's digest for one part,
    /// else the SHA-256 of every part's digest in order).
    fn check_parts<'k>(
        &self,
        keys: impl Iterator<Item = &'k KeyEntry>,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
    ) -> Result<Option<(usize, ContentDigest)>, VerifyError> {
        let encoding = self.scheme().encoding();
        let parts = parsed
            .parts()
            .iter()
            .map(|part| {
                let mut decoded = Decoded::EMPTY;
                if decoded.decode(parsed.algorithm, &part.signature, encoding) {
                    Ok((std::slice::from_ref(&part.content), decoded))
                } else {
                    Err(malformed_signature(parsed))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(keys.enumerate().find_map(|(index, key)| {
            let mut combined = sha2::Sha256::new();
            let mut single = None;
            for (content, decoded) in &parts {
                let digest = self.check_key(key, parsed, request, content, &[*decoded])?;
                combined.update(digest.as_bytes());
                single = Some(digest);
            }
            let digest = match (parts.len(), single) {
                (1, Some(digest)) => digest,
                _ => ContentDigest::new(&combined.finalize()),
            };
            Some((index, digest))
        }))
    }

    /// Checks every candidate against one key, over `contents` (the scheme's own pieces when
    /// empty); the dedup digest of the delivery if one matches.
    fn check_key(
        &self,
        key: &KeyEntry,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        contents: &[Vec<u8>],
        candidates: &[Decoded<'_>],
    ) -> Option<ContentDigest> {
        // The signed content, variant by variant: the scheme's pieces, or what `parse` built.
        let variants = contents.len().max(1);
        let feed_variant = |variant: usize, feed: &mut dyn FnMut(&[u8])| {
            if contents.is_empty() {
                self.scheme().signed_content(parsed, request, feed);
            } else {
                feed(&contents[variant]);
            }
        };
        match &key.material {
            Material::Secret { macs, token } => {
                let primary = self.hmacs.first().copied();
                let scheme = self.scheme();
                for &algorithm in &*self.hmacs {
                    if !candidates.iter().any(|c| c.algorithm == algorithm) {
                        continue;
                    }
                    for variant in 0..variants {
                        // The common case, the scheme's own pieces, without the indirection.
                        let tag = match contents.get(variant) {
                            None => macs.compute(algorithm, |feed| {
                                scheme.signed_content(parsed, request, feed);
                            }),
                            Some(content) => macs.compute(algorithm, |feed| feed(content)),
                        }?;
                        let mut matched = false;
                        // Every candidate is compared, so timing does not reveal which matched.
                        for c in candidates.iter().filter(|c| c.algorithm == algorithm) {
                            matched |= tag.ct_eq(c.bytes());
                        }
                        if matched {
                            // One delivery, one key: digest with the scheme's first HMAC even
                            // when another of its signatures was the one checked.
                            let digest = match primary {
                                Some(p) if p != algorithm => {
                                    macs.compute(p, |feed| feed_variant(variant, feed))?
                                }
                                _ => tag,
                            };
                            return Some(ContentDigest::new(digest.as_slice()));
                        }
                    }
                }
                if let Some(token) = token {
                    let mut matched = false;
                    for c in candidates
                        .iter()
                        .filter(|c| c.algorithm == Algorithm::Token)
                    {
                        let sent: [u8; 32] = sha2::Sha256::digest(c.text.as_bytes()).into();
                        matched |= bool::from(sent.ct_eq(token));
                    }
                    if matched {
                        // A token binds nothing: deduplicate by what was delivered.
                        return Some(ContentDigest::new(&sha2::Sha256::digest(request.body)));
                    }
                }
                None
            }
            Material::Ed25519(public) => {
                for c in candidates
                    .iter()
                    .filter(|c| c.algorithm == Algorithm::Ed25519)
                {
                    let signature = ed25519_dalek::Signature::from_slice(c.bytes()).ok()?;
                    for variant in 0..variants {
                        let Ok(mut stream) = public.verify_stream(&signature) else {
                            break;
                        };
                        feed_variant(variant, &mut |piece| stream.update(piece));
                        if stream.finalize_and_verify().is_ok() {
                            // Deterministic for one key and content.
                            return Some(ContentDigest::new(&c.bytes()[..32]));
                        }
                    }
                }
                None
            }
            Material::P256(public) => {
                use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
                let mut ecdsa = candidates
                    .iter()
                    .filter(|c| {
                        matches!(c.algorithm, Algorithm::EcdsaP256Sha256 | Algorithm::Es256)
                    })
                    .peekable();
                ecdsa.peek()?;
                for variant in 0..variants {
                    let mut hash = sha2::Sha256::new();
                    feed_variant(variant, &mut |piece| hash.update(piece));
                    let prehash = hash.finalize();
                    for c in ecdsa.clone() {
                        // DER (SendGrid), or `r ‖ s` (JWS ES256): each only as its algorithm.
                        let signature = if c.algorithm == Algorithm::Es256 {
                            p256::ecdsa::Signature::from_slice(c.bytes())
                        } else {
                            p256::ecdsa::Signature::from_der(c.bytes())
                        };
                        let Ok(signature) = signature else {
                            continue;
                        };
                        if public.verify_prehash(&prehash, &signature).is_ok() {
                            return Some(ContentDigest::new(&prehash));
                        }
                    }
                }
                None
            }
            Material::Rsa(public) => {
                for c in candidates.iter().filter(|c| c.algorithm.is_rsa()) {
                    let mut bytes = [0u8; MAX_RSA_SIG];
                    let len = decode_into(c.text, self.scheme().encoding(), &mut bytes)?;
                    for variant in 0..variants {
                        // The digest the signature covers; also the delivery's dedup digest.
                        let (prehash, scheme) = if c.algorithm == Algorithm::RsaSha1 {
                            let mut hash = sha1::Sha1::new();
                            feed_variant(variant, &mut |piece| hash.update(piece));
                            (
                                hash.finalize().to_vec(),
                                rsa::pkcs1v15::Pkcs1v15Sign::new::<sha1::Sha1>(),
                            )
                        } else {
                            let mut hash = sha2::Sha256::new();
                            feed_variant(variant, &mut |piece| hash.update(piece));
                            (
                                hash.finalize().to_vec(),
                                rsa::pkcs1v15::Pkcs1v15Sign::new::<sha2::Sha256>(),
                            )
                        };
                        if public.verify(scheme, &prehash, &bytes[..len]).is_ok() {
                            return Some(ContentDigest::new(&prehash));
                        }
                    }
                }
                None
            }
        }
    }

    /// Refuses `ts` outside `[now − past, now + future]`, in milliseconds: a request passes only
    /// while its timestamp is inside the window, to the millisecond, so that a retention of
    /// `past + future` covers every instant a replay could pass.
    fn check_window(&self, ts: i64, now: i64) -> Result<(), VerifyError> {
        let past = u64::try_from(self.tolerance_past.as_millis()).unwrap_or(u64::MAX);
        let future = u64::try_from(self.tolerance_future.as_millis()).unwrap_or(u64::MAX);
        let secs = |ms: u64| ms.div_ceil(1000);
        if ts <= now {
            let age = now.abs_diff(ts);
            if age > past {
                return Err(VerifyError::TimestampTooOld {
                    age_secs: secs(age),
                    tolerance_secs: self.tolerance_past.as_secs(),
                });
            }
        } else {
            let ahead = ts.abs_diff(now);
            if ahead > future {
                return Err(VerifyError::TimestampInFuture {
                    ahead_secs: secs(ahead),
                    tolerance_secs: self.tolerance_future.as_secs(),
                });
            }
        }
        Ok(())
    }

    /// The HMAC-SHA256 of `data` under the key that verified `verified`, for challenge answers
    /// that the provider defines so (Zoom's URL validation); `None` if that key is not an
    /// HMAC-SHA256 secret.
    pub(crate) fn hmac_sha256_with(&self, verified: &Verified<'_>, data: &[u8]) -> Option<Vec<u8>> {
        let Material::Secret { macs, .. } = &self.keys.get(verified.key_index)?.material else {
            return None;
        };
        macs.compute(Algorithm::HmacSha256, |feed| feed(data))
            .map(|tag| tag.as_slice().to_vec())
    }
}

/// A request that passed the checks that need no key ([`Verifier::prepare`]).
pub(crate) struct Prepared<'a> {
    parsed: Parsed<'a>,
    now_millis: i64,
}

impl<'a> Prepared<'a> {
    /// The key the request names, for schemes that fetch theirs.
    pub(crate) fn key_ref(&self) -> Option<&KeyRef<'a>> {
        self.parsed.key_ref()
    }
}

/// `now` in Unix milliseconds.
pub(crate) fn unix_millis(now: OffsetDateTime) -> i64 {
    now.unix_timestamp()
        .saturating_mul(1000)
        .saturating_add(i64::from(now.millisecond()))
}

#[cold]
fn malformed_signature(parsed: &Parsed<'_>) -> VerifyError {
    VerifyError::MalformedHeader {
        name: parsed
            .signature_header
            .map_or(Cow::Borrowed("signature"), |h| {
                Cow::Owned(h.as_str().to_owned())
            }),
        reason: "no signature, or one that is not valid in the scheme's encoding and length",
    }
}

/// A digest of what was signed, kept as a dedup key for deliveries without a signed id (at most
/// 32 bytes: the MAC under the scheme's first HMAC, the SHA-256 an ECDSA signature covers, or
/// the deterministic Ed25519 signature's first half).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentDigest {
    bytes: [u8; 32],
    len: u8,
}

/// Former name of [`ContentDigest`].
pub type MacKey = ContentDigest;

impl ContentDigest {
    fn new(tag: &[u8]) -> Self {
        let len = tag.len().min(32);
        let mut bytes = [0u8; 32];
        bytes[..len].copy_from_slice(&tag[..len]);
        Self {
            bytes,
            len: len as u8,
        }
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentDigest({self})")
    }
}

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// What identifies a delivery for deduplication. Always bound to signed content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DedupKey<'a> {
    /// An event id the signature covers (Standard Webhooks `webhook-id`, Stripe's body `id`).
    EventId(Cow<'a, str>),
    /// A digest of the signed content, for schemes whose id is not signed (GitHub, Shopify). A
    /// sender that re-signs a retry differently (new timestamp) produces a new key.
    Digest(ContentDigest),
}

impl fmt::Display for DedupKey<'_> {
    /// `id:<event id>` or `digest:<hex>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EventId(id) => write!(f, "id:{id}"),
            Self::Digest(digest) => write!(f, "digest:{digest}"),
        }
    }
}

impl DedupKey<'_> {
    /// An owned copy.
    pub fn into_owned(self) -> DedupKey<'static> {
        match self {
            Self::EventId(id) => DedupKey::EventId(Cow::Owned(id.into_owned())),
            Self::Digest(digest) => DedupKey::Digest(digest),
        }
    }
}

/// Where a verified request's event id is; read from the body only when asked for.
#[derive(Clone, PartialEq, Eq)]
enum EventId<'a> {
    None,
    Known(Cow<'a, str>),
    Json {
        body: &'a [u8],
        path: &'static [&'static str],
    },
}

/// A request that passed verification.
///
/// Borrows the request; [`into_owned`](Verified::into_owned) makes a copy to keep. `Debug` shows
/// the metadata, never the body.
#[derive(Clone, PartialEq, Eq)]
pub struct Verified<'a> {
    scheme: Cow<'a, str>,
    timestamp: Option<i64>,
    event_id: EventId<'a>,
    digest: ContentDigest,
    key_index: usize,
    key_label: Option<Cow<'a, str>>,
}

impl fmt::Debug for Verified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("scheme", &self.scheme)
            .field("timestamp", &self.timestamp())
            .field("event_id", &self.event_id())
            .field("dedup_key", &self.dedup_key())
            .field("key_index", &self.key_index)
            .field("key_label", &self.key_label)
            .finish()
    }
}

impl Verified<'_> {
    /// The scheme's name (`"stripe"`).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The signed timestamp, for schemes that have one.
    pub fn timestamp(&self) -> Option<OffsetDateTime> {
        self.timestamp
            .and_then(|t| OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 1_000_000).ok())
    }

    /// The signed timestamp in Unix seconds.
    pub fn unix_timestamp(&self) -> Option<i64> {
        self.timestamp.map(|t| t.div_euclid(1000))
    }

    /// The signed timestamp in milliseconds since the Unix epoch.
    pub fn unix_timestamp_millis(&self) -> Option<i64> {
        self.timestamp
    }

    /// The event id, only where the signature covers it (`webhook-id`, Stripe's body `id`,
    /// Slack's body `event_id`). A body id is read on each call, stopping right after the field;
    /// borrowed unless it contains JSON escapes.
    pub fn event_id(&self) -> Option<Cow<'_, str>> {
        match &self.event_id {
            EventId::None => None,
            EventId::Known(id) => Some(Cow::Borrowed(id)),
            EventId::Json { body, path } => json_path(body, path).map(JsonLeaf::into_text),
        }
    }

    /// The dedup key, bound to signed content: the signed event id if there is one, else a
    /// digest of the signed content. Not yet namespaced; the receiver adds the endpoint
    /// namespace.
    pub fn dedup_key(&self) -> DedupKey<'_> {
        match self.event_id() {
            Some(id) => DedupKey::EventId(id),
            None => DedupKey::Digest(self.digest),
        }
    }

    /// Position of the matching key, in the order they were added.
    pub fn key_index(&self) -> usize {
        self.key_index
    }

    /// Label of the matching key, if it has one.
    pub fn key_label(&self) -> Option<&str> {
        self.key_label.as_deref()
    }

    /// An owned copy, to keep past the request (adapters put it in request extensions). The body
    /// is not kept: a body event id is read now.
    pub fn into_owned(self) -> Verified<'static> {
        let event_id = match self.event_id() {
            Some(id) => EventId::Known(Cow::Owned(id.into_owned())),
            None => EventId::None,
        };
        Verified {
            scheme: Cow::Owned(self.scheme.into_owned()),
            timestamp: self.timestamp,
            event_id,
            digest: self.digest,
            key_index: self.key_index,
            key_label: self.key_label.map(|c| Cow::Owned(c.into_owned())),
        }
    }
}
