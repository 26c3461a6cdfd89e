//! Keys fetched at run time: AWS SNS and PayPal signing certificates, Plaid's JSON Web Keys.
//!
//! Most providers sign with a secret (or a public key) you configure once. A few name, in each
//! request, a key the receiver must fetch from them: AWS SNS (`SigningCertURL`), PayPal
//! (`PAYPAL-CERT-URL`) and Plaid (the `kid` of its JWT). The [`Verifier`] stays synchronous and
//! does no I/O; this module adds the asynchronous part:
//!
//! * a [`KeySource`] fetches the document a [`KeyRef`] names — a certificate URL, a key id —
//!   with the HTTP client you already have (this crate ships none);
//! * a [`KeyCache`] keeps the parsed keys, with an expiry and a bounded size, and verifies
//!   requests with them ([`KeyCache::verify_request`]);
//! * a [`Receiver`](crate::Receiver) given a cache
//!   ([`ReceiverBuilder::key_cache`](crate::ReceiverBuilder::key_cache)) resolves the key of
//!   each request before verifying it, so these providers work behind the axum and actix-web
//!   adapters like any other.
//!
//! # Order of checks
//!
//! Everything that can be checked without the key is checked **before** any fetch: the body
//! limit, the request's shape, the timestamp window, the certificate URL against the
//! provider's hosts (SNS, PayPal), the SNS topic allow-list, Plaid's algorithm and body hash. A
//! request that fails them costs no network call. Fetched documents are parsed by the scheme
//! ([`Scheme::parse_remote_key`]) and refused unless they hold a key of the expected kind.
//!
//! A request that passes those checks can still name any key (Plaid's `kid` is the sender's
//! to choose, an SNS certificate URL any path on AWS' hosts), so a [`KeyCache`] bounds what
//! forged requests can make it fetch: it remembers for a minute that a key does not exist or
//! is not valid, and starts at most 60 fetches of keys it does not hold a minute (both
//! configurable); past that a request naming a new key is answered 503 with `Retry-After`, and
//! the sender retries. Keys it holds are fetched again apart from that ration, and used past
//! their TTL while the provider cannot serve them, so forged requests cannot lock out real
//! ones.
//!
//! # Plugging in an HTTP client
//!
//! ```
//! use webhook_receiver::keysource::{self, KeyCache, KeyError, KeyRef};
//!
//! // Your HTTP client: here a stand-in that answers (status, body) for a GET.
//! async fn get(url: &str) -> Result<(u16, Vec<u8>), std::io::Error> {
//!     # let _ = url;
//!     Ok((404, Vec::new()))
//! }
//!
//! let certificates = KeyCache::new(keysource::from_fn(|key: KeyRef<'static>| async move {
//!     // SNS and PayPal: an HTTPS GET of the certificate URL, already checked against the
//!     // provider's hosts. Bound the size and the time of the download in your client.
//!     match get(&key.id).await.map_err(KeyError::unavailable)? {
//!         (200, pem) => Ok(pem),
//!         // Gone or revoked: `NotFound`, so that a held copy is dropped at once.
//!         (404 | 410, _) => Err(KeyError::NotFound),
//!         _ => Err(KeyError::unavailable("the provider did not serve the key")),
//!     }
//! }));
//! # let _ = certificates;
//! ```
//!
//! For Plaid, the source posts `{"client_id", "secret", "key_id": key.id}` to
//! `/webhook_verification_key/get` and returns the response body as it is.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::{Shared, WeakShared};
use http::StatusCode;
use time::OffsetDateTime;

use crate::dedup::{BoxError, BoxFuture};
use crate::error::{ConfigError, VerifyError};
use crate::providers::{Request, Scheme};
use crate::secret::{MAX_KEY_DOCUMENT, PublicKey, parse_certificate, parse_jwk};
use crate::verify::{Verified, Verifier};

/// Default time a fetched key is kept: one hour (never past a certificate's `notAfter`).
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(3600);
/// Default number of keys a [`KeyCache`] holds.
pub const DEFAULT_KEY_CAPACITY: usize = 64;
/// `Retry-After` suggested when a key could not be fetched.
pub const KEY_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Default time a [`KeyCache`] remembers that a key does not exist ([`KeyError::NotFound`]) or
/// is not valid now ([`KeyError::Expired`]): one minute.
pub const DEFAULT_MISS_TTL: Duration = Duration::from_secs(60);
/// Default number of fetches of keys not held that a [`KeyCache`] starts per minute.
pub const DEFAULT_FETCHES_PER_MINUTE: u32 = 60;
/// Default time a [`KeyCache`] still uses a key past its TTL while fetching it again fails:
/// six hours.
pub const DEFAULT_STALE_IF_ERROR: Duration = Duration::from_secs(6 * 3600);
/// How often a [`KeyCache`] tries to fetch again a held key past its TTL: at most once per
/// key in this time, whatever the number of requests naming it.
pub const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// What a request's key is, and so how a [`KeySource`] fetches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// An X.509 certificate, fetched with an HTTPS `GET` of [`KeyRef::id`] (AWS SNS
    /// `SigningCertURL`, PayPal `PAYPAL-CERT-URL`). The URL was checked against the provider's
    /// hosts before the source sees it.
    CertificateUrl,
    /// A key named by [`KeyRef::id`] (a JWT `kid`), fetched from the provider's API (Plaid
    /// `/webhook_verification_key/get`).
    KeyId,
}

/// The key a request needs, as its scheme read it ([`Parsed::key_ref`](crate::providers::Parsed::key_ref)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct KeyRef<'a> {
    /// The scheme's name (`"aws-sns"`, `"paypal"`, `"plaid"`).
    pub scheme: Cow<'a, str>,
    /// What the key is.
    pub kind: KeyKind,
    /// The certificate URL or the key id.
    pub id: Cow<'a, str>,
}

impl<'a> KeyRef<'a> {
    /// A reference to key `id` of `kind`, for `scheme`.
    pub fn new(
        scheme: impl Into<Cow<'a, str>>,
        kind: KeyKind,
        id: impl Into<Cow<'a, str>>,
    ) -> Self {
        Self {
            scheme: scheme.into(),
            kind,
            id: id.into(),
        }
    }

    /// An owned copy.
    pub fn into_owned(self) -> KeyRef<'static> {
        KeyRef {
            scheme: Cow::Owned(self.scheme.into_owned()),
            kind: self.kind,
            id: Cow::Owned(self.id.into_owned()),
        }
    }
}

/// A key could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The source could not fetch the key now (network, timeout, the provider's 5xx): answered
    /// 503 + `Retry-After`, so the sender retries.
    #[error("the key could not be fetched")]
    Unavailable(#[source] BoxError),
    /// The provider does not know this key: the request names a key that is not theirs.
    /// Answered 401.
    #[error("the provider does not know this key")]
    NotFound,
    /// The fetched document is not a key this scheme accepts. Answered 401.
    #[error("the fetched key is unusable: {reason}")]
    Invalid {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The key is expired or not yet valid (a certificate's validity, a rotated Plaid key).
    /// Answered 401.
    #[error("the key is expired or not yet valid")]
    Expired,
    /// The scheme fetches its keys, but no [`KeyCache`] is configured and no key is pinned: a
    /// configuration mistake on the receiving side, answered 500.
    #[error("the scheme fetches its keys but no key cache is configured")]
    NoSource,
}

impl KeyError {
    /// An [`Unavailable`](Self::Unavailable) error.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Self::Unavailable(source.into())
    }

    /// The HTTP status to answer: 503 when the key could not be fetched, 500 when no source is
    /// configured, 401 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NoSource => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NotFound | Self::Invalid { .. } | Self::Expired => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `Retry-After` to send: [`KEY_RETRY_AFTER`] when the key could not be fetched.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Unavailable(_) => Some(KEY_RETRY_AFTER),
            _ => None,
        }
    }
}

/// Fetches the key document a [`KeyRef`] names, with your HTTP client.
///
/// Return the document as the provider serves it — a PEM certificate for
/// [`KeyKind::CertificateUrl`], the JSON of the provider's answer for [`KeyKind::KeyId`] — and
/// let the scheme parse it. Map "no such key" (HTTP 404 or 410, a revoked key, Plaid's
/// `INVALID_KEY_ID`-style errors) to [`KeyError::NotFound`], and only transient failures to
/// [`KeyError::Unavailable`]: on those a [`KeyCache`] goes on using a key it holds, for up to
/// [`stale_if_error`](KeyCacheBuilder::stale_if_error) past its TTL.
/// Documents over 64 KiB are refused; bound the download in your client too, and give it a
/// timeout: the request waits for it.
///
/// Implementers write a plain `async fn`; the future must be `Send`. For `Arc<dyn …>` use
/// [`DynKeySource`], implemented for every `KeySource`; for a closure, [`from_fn`].
pub trait KeySource: Send + Sync + 'static {
    /// Fetches the document of `key`.
    fn fetch<'a>(
        &'a self,
        key: &'a KeyRef<'a>,
    ) -> impl Future<Output = Result<Vec<u8>, KeyError>> + Send + 'a;
}

/// The dyn-compatible mirror of [`KeySource`]: `Arc<dyn DynKeySource>` is itself a
/// `KeySource`.
pub trait DynKeySource: Send + Sync + 'static {
    /// [`KeySource::fetch`], boxed.
    fn fetch_boxed<'a>(&'a self, key: &'a KeyRef<'a>) -> BoxFuture<'a, Result<Vec<u8>, KeyError>>;
}

impl<S: KeySource> DynKeySource for S {
    fn fetch_boxed<'a>(&'a self, key: &'a KeyRef<'a>) -> BoxFuture<'a, Result<Vec<u8>, KeyError>> {
        Box::pin(self.fetch(key))
    }
}

impl KeySource for Arc<dyn DynKeySource> {
    fn fetch<'a>(
        &'a self,
        key: &'a KeyRef<'a>,
    ) -> impl Future<Output = Result<Vec<u8>, KeyError>> + Send + 'a {
        (**self).fetch_boxed(key)
    }
}

/// A [`KeySource`] from a closure that takes an owned [`KeyRef`]; see [`from_fn`].
#[derive(Clone)]
pub struct FnKeySource<F>(F);

impl<F> fmt::Debug for FnKeySource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnKeySource")
    }
}

/// A [`KeySource`] that calls `fetch` with an owned copy of each [`KeyRef`].
///
/// ```
/// use webhook_receiver::keysource::{self, KeyError, KeyRef};
///
/// // A source that serves nothing: every key is unknown.
/// let source = keysource::from_fn(|_key: KeyRef<'static>| async { Err::<Vec<u8>, _>(KeyError::NotFound) });
/// # let _ = webhook_receiver::keysource::KeyCache::new(source);
/// ```
pub fn from_fn<F, Fut>(fetch: F) -> FnKeySource<F>
where
    F: Fn(KeyRef<'static>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<u8>, KeyError>> + Send + 'static,
{
    FnKeySource(fetch)
}

impl<F, Fut> KeySource for FnKeySource<F>
where
    F: Fn(KeyRef<'static>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<u8>, KeyError>> + Send + 'static,
{
    fn fetch<'a>(
        &'a self,
        key: &'a KeyRef<'a>,
    ) -> impl Future<Output = Result<Vec<u8>, KeyError>> + Send + 'a {
        (self.0)(key.clone().into_owned())
    }
}

/// A fetched key, parsed and checked: the public key and, for a certificate, its validity.
pub struct RemoteKey {
    key: PublicKey,
    not_before: Option<i64>,
    not_after: Option<i64>,
    /// [`Verified::key_label`] of the requests it verifies; set by the [`KeyCache`].
    label: Option<Box<str>>,
    /// Whether a request was verified with it (set by the [`KeyCache`]): such keys are kept
    /// before those that only forged requests (naming real certificates, say) made it fetch.
    proven: AtomicBool,
}

impl Clone for RemoteKey {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            label: self.label.clone(),
            proven: AtomicBool::new(self.is_proven()),
        }
    }
}

impl fmt::Debug for RemoteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKey")
            .field("key", &self.key)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("label", &self.label)
            .finish()
    }
}

impl RemoteKey {
    /// A key valid at any time.
    pub fn new(key: PublicKey) -> Self {
        Self {
            key,
            not_before: None,
            not_after: None,
            label: None,
            proven: AtomicBool::new(false),
        }
    }

    /// Valid only from `not_before` to `not_after` (Unix seconds, both included).
    #[must_use]
    pub fn valid_between(mut self, not_before: i64, not_after: i64) -> Self {
        self.not_before = Some(not_before);
        self.not_after = Some(not_after);
        self
    }

    /// The RSA or P-256 key of an X.509 certificate in PEM (the first certificate of the file)
    /// or DER, valid as the certificate says. The certificate's own signature is not checked:
    /// trust comes from where it was fetched (a URL the scheme checked, over HTTPS).
    pub fn from_certificate(pem_or_der: &[u8]) -> Result<Self, KeyError> {
        let cert = parse_certificate(pem_or_der).map_err(|reason| KeyError::Invalid { reason })?;
        Ok(Self::new(cert.key).valid_between(cert.not_before, cert.not_after))
    }

    /// The key of a JSON Web Key (EC P-256), valid at any time.
    pub fn from_jwk(json: &[u8]) -> Result<Self, KeyError> {
        let jwk = parse_jwk(json).map_err(|reason| KeyError::Invalid { reason })?;
        Ok(Self::new(jwk.key))
    }

    /// The public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// Whether the key may be used at `unix_seconds`.
    pub fn is_valid_at(&self, unix_seconds: i64) -> bool {
        self.not_before.is_none_or(|t| unix_seconds >= t)
            && self.not_after.is_none_or(|t| unix_seconds <= t)
    }

    /// The end of the validity, in Unix seconds, if it has one.
    pub(crate) fn not_after(&self) -> Option<i64> {
        self.not_after
    }

    /// What requests verified with this key report as [`Verified::key_label`].
    pub(crate) fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    fn is_proven(&self) -> bool {
        self.proven.load(Ordering::Relaxed)
    }
}

/// A key in the cache, and when it must be fetched again (Unix milliseconds).
struct Entry {
    key: Arc<RemoteKey>,
    expires_at: i64,
    /// When a fetch of this key may start next: `expires_at`, then, once one started,
    /// [`KEY_REFRESH_INTERVAL`] after it.
    refresh_at: i64,
    /// The fetch that gave the key.
    flight: u64,
}

/// What the cache holds for a key at a given time.
enum Held {
    /// A key inside its TTL.
    Fresh(Arc<RemoteKey>),
    /// A key past its TTL: fetch it again (`refresh`: this request does it, others meanwhile
    /// do not); `usable` while the held key may still be used.
    Stale {
        refresh: bool,
        usable: bool,
        held: Arc<RemoteKey>,
    },
    /// Nothing.
    Nothing,
}

/// A key that could not be had, remembered until `until` (Unix milliseconds).
struct Miss {
    expired: bool,
    until: i64,
}

/// The fetches started in the current minute.
struct Budget {
    window_start: i64,
    started: u32,
}

type KeyId = (String, KeyKind, String);

/// A fetch of a key document: the document, or the error (shared by the requests that wait).
type Fetch = BoxFuture<'static, Result<Arc<Vec<u8>>, Arc<KeyError>>>;
/// A fetch of a key document that concurrent requests share.
type SharedFetch = Shared<Fetch>;

/// A fetch in flight (held weakly: the requests waiting for it hold it), and when (Unix
/// milliseconds, the requests' clock) it started. Ids grow: a later fetch has a larger one.
struct Flight {
    id: u64,
    started: i64,
    fetch: WeakShared<Fetch>,
}

/// How long a fetch in flight is joined by further requests for its key; past that (a source
/// that hangs), a request starts its own.
const FLIGHT_JOINED_FOR_MILLIS: i64 = 30_000;

struct CacheInner {
    source: Arc<dyn DynKeySource>,
    ttl: Duration,
    capacity: usize,
    miss_ttl: Duration,
    fetches_per_minute: u32,
    stale_if_error: Duration,
    // (scheme, kind, id) → key. Never locked across an await.
    entries: Mutex<HashMap<KeyId, Entry>>,
    // (scheme, kind, id) → a recent NotFound or Expired. Never locked across an await.
    misses: Mutex<HashMap<KeyId, Miss>>,
    budget: Mutex<Budget>,
    // (scheme, kind, id) → the fetch in flight. Never locked across an await.
    flights: Mutex<HashMap<KeyId, Flight>>,
    next_flight: AtomicU64,
}

/// Fetched keys, kept for a while: resolves the [`KeyRef`] of each request through a
/// [`KeySource`] and verifies the request with the key ([`verify_request`](Self::verify_request)).
///
/// * **Expiry**: a key is kept for the TTL ([`DEFAULT_KEY_TTL`], one hour), and never past the
///   end of its certificate's validity; then it is fetched again.
/// * **Bounded**: at most `capacity` keys ([`DEFAULT_KEY_CAPACITY`]); when full, keys that may
///   no longer be used go first, then keys no request was verified with (what forged requests
///   naming other real certificates made it fetch), then the one whose TTL ends soonest.
/// * **Misses are remembered briefly**: a key the source does not know ([`KeyError::NotFound`])
///   or that is not valid now ([`KeyError::Expired`]) is answered from memory for the
///   [miss TTL](KeyCacheBuilder::miss_ttl) ([`DEFAULT_MISS_TTL`], one minute), so a forged
///   request sent again and again costs one fetch. A fetch that failed
///   ([`KeyError::Unavailable`]) or an unusable document is tried again on the next request.
/// * **Fetches are rationed**: at most [`fetches_per_minute`](KeyCacheBuilder::fetches_per_minute)
///   ([`DEFAULT_FETCHES_PER_MINUTE`]) fetches of keys not held start per minute; past that,
///   requests naming a key not held are answered [`KeyError::Unavailable`] (503 with
///   `Retry-After`), so forged requests naming ever new keys cannot make the cache flood the
///   provider or your HTTP client.
/// * **One fetch per key at a time**: concurrent requests for a key not held (a burst of
///   deliveries right after a deploy or a rotation) share one fetch, which takes one fetch
///   from the ration; so do requests for a held key past its usable time while it is fetched
///   again. The fetch goes on while any request waits for it (the one that started it may go
///   away), and stops when none does. One in flight for more than 30 s is not joined: the next
///   request starts its own (a source that hangs does not hold every later request). A source
///   that panics fails the requests waiting for it with [`KeyError::Unavailable`]. The source
///   of a shared fetch's `Unavailable` shows the source's error (its message and causes) but
///   is not that error's type: several requests receive it.
/// * **Held keys are refreshed apart**: a key past its TTL that a request was verified with is
///   fetched again outside that ration — so forged requests spending it cannot lock out the
///   keys real deliveries use — by one request at a time, at most once per key every [`KEY_REFRESH_INTERVAL`]. Meanwhile,
///   and while the fetch fails ([`KeyError::Unavailable`], an unusable document), requests
///   are verified with the key held, for at most
///   [`stale_if_error`](KeyCacheBuilder::stale_if_error) ([`DEFAULT_STALE_IF_ERROR`]) past its
///   TTL and never past its certificate's validity: a provider's outage does not become
///   yours. A key the provider no longer knows ([`KeyError::NotFound`]) or no longer
///   vouches for ([`KeyError::Expired`]) is dropped at once.
/// * **Reported**: [`Verified::key_label`] of a request verified with a fetched key names the
///   key, so operators see rotations: the signed `kid` for [`KeyKind::KeyId`], and for a
///   certificate `sha256:` and the first 16 hex digits of the SHA-256 of the document as
///   fetched (`curl <url> | sha256sum`) — not its URL, which the signature does not cover: the
///   label (a metrics label, a stored field) stays one per real key, whatever URLs requests
///   name.
///
/// Cheap to clone (one `Arc`); one cache may serve several receivers.
///
/// ```
/// use webhook_receiver::keysource::{self, KeyCache, KeyError, KeyRef};
/// use webhook_receiver::{Verifier, providers::Sns, Request};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cache = KeyCache::new(keysource::from_fn(|_key: KeyRef<'static>| async {
///     Err::<Vec<u8>, _>(KeyError::NotFound) // your HTTP GET here
/// }));
/// let verifier = Verifier::builder(Sns::new("arn:aws:sns:us-east-1:123456789012:orders")?).build()?;
/// # let headers = http::HeaderMap::new();
/// # let body = b"{}";
/// // Verifies, fetching the certificate the message names when it is not cached yet.
/// let outcome = cache.verify_request(&verifier, &Request::new(&headers, body)).await;
/// assert!(outcome.is_err()); // (this body is no SNS message)
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct KeyCache {
    inner: Arc<CacheInner>,
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("ttl", &self.inner.ttl)
            .field("capacity", &self.inner.capacity)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// Configures a [`KeyCache`].
pub struct KeyCacheBuilder {
    source: Arc<dyn DynKeySource>,
    ttl: Duration,
    capacity: usize,
    miss_ttl: Duration,
    fetches_per_minute: u32,
    stale_if_error: Duration,
}

impl fmt::Debug for KeyCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCacheBuilder")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("miss_ttl", &self.miss_ttl)
            .field("fetches_per_minute", &self.fetches_per_minute)
            .field("stale_if_error", &self.stale_if_error)
            .finish_non_exhaustive()
    }
}

impl KeyCacheBuilder {
    /// How long a fetched key is kept. Default: [`DEFAULT_KEY_TTL`] (one hour); from one second
    /// to one week. A certificate is never kept past its validity.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How many keys are kept. Default: [`DEFAULT_KEY_CAPACITY`]; from 1 to 10 000. As many
    /// misses are remembered besides.
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How long a key that does not exist ([`KeyError::NotFound`]) or is not valid now
    /// ([`KeyError::Expired`]) is answered so without fetching it again. Default:
    /// [`DEFAULT_MISS_TTL`] (one minute); at most one hour; zero fetches every time.
    #[must_use]
    pub fn miss_ttl(mut self, ttl: Duration) -> Self {
        self.miss_ttl = ttl;
        self
    }

    /// How many fetches of keys not held may start per minute; past that, a request naming a
    /// key not held is answered [`KeyError::Unavailable`] (503 + `Retry-After`). Refreshes of
    /// held keys are not counted (see [`KeyCache`]). Default: [`DEFAULT_FETCHES_PER_MINUTE`];
    /// from 1 to 100 000.
    #[must_use]
    pub fn fetches_per_minute(mut self, fetches: u32) -> Self {
        self.fetches_per_minute = fetches;
        self
    }

    /// How long past its TTL a held key is still used while fetching it again fails (or is
    /// under way in another request); never past its certificate's validity. Default:
    /// [`DEFAULT_STALE_IF_ERROR`] (six hours); at most one week; zero answers 503 as soon as the
    /// TTL has passed and the key could not be fetched again.
    #[must_use]
    pub fn stale_if_error(mut self, time: Duration) -> Self {
        self.stale_if_error = time;
        self
    }

    /// Builds the cache. Errors (naming the setting) on a setting out of range.
    pub fn build(self) -> Result<KeyCache, ConfigError> {
        if self.ttl < Duration::from_secs(1) || self.ttl > Duration::from_secs(7 * 24 * 3600) {
            return Err(ConfigError::invalid(
                "ttl",
                "must be from one second to one week",
            ));
        }
        if self.capacity == 0 || self.capacity > 10_000 {
            return Err(ConfigError::invalid(
                "capacity",
                "must be from 1 to 10000 keys",
            ));
        }
        if self.miss_ttl > Duration::from_secs(3600) {
            return Err(ConfigError::invalid("miss_ttl", "must be at most one hour"));
        }
        if self.fetches_per_minute == 0 || self.fetches_per_minute > 100_000 {
            return Err(ConfigError::invalid(
                "fetches_per_minute",
                "must be from 1 to 100000",
            ));
        }
        if self.stale_if_error > Duration::from_secs(7 * 24 * 3600) {
            return Err(ConfigError::invalid(
                "stale_if_error",
                "must be at most one week",
            ));
        }
        Ok(KeyCache {
            inner: Arc::new(CacheInner {
                source: self.source,
                ttl: self.ttl,
                capacity: self.capacity,
                miss_ttl: self.miss_ttl,
                fetches_per_minute: self.fetches_per_minute,
                stale_if_error: self.stale_if_error,
                entries: Mutex::new(HashMap::new()),
                misses: Mutex::new(HashMap::new()),
                budget: Mutex::new(Budget {
                    window_start: i64::MIN,
                    started: 0,
                }),
                flights: Mutex::new(HashMap::new()),
                next_flight: AtomicU64::new(0),
            }),
        })
    }
}

impl KeyCache {
    /// A cache over `source` with the default TTL and capacity.
    pub fn new(source: impl KeySource) -> Self {
        Self::builder(source)
            .build()
            .expect("the defaults are valid")
    }

    /// Configures a cache over `source`.
    pub fn builder(source: impl KeySource) -> KeyCacheBuilder {
        KeyCacheBuilder {
            source: Arc::new(source),
            ttl: DEFAULT_KEY_TTL,
            capacity: DEFAULT_KEY_CAPACITY,
            miss_ttl: DEFAULT_MISS_TTL,
            fetches_per_minute: DEFAULT_FETCHES_PER_MINUTE,
            stale_if_error: DEFAULT_STALE_IF_ERROR,
        }
    }

    /// The number of keys held (expired ones included until they are replaced).
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every key and every remembered miss.
    pub fn clear(&self) {
        self.entries().clear();
        lock(&self.inner.misses).clear();
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<KeyId, Entry>> {
        lock(&self.inner.entries)
    }

    /// A miss remembered for `id` at `now_millis`, as its error.
    fn remembered_miss(&self, id: &KeyId, now_millis: i64) -> Option<KeyError> {
        let misses = lock(&self.inner.misses);
        let miss = misses.get(id).filter(|m| m.until > now_millis)?;
        Some(if miss.expired {
            KeyError::Expired
        } else {
            KeyError::NotFound
        })
    }

    /// Remembers that `id` could not be had (`NotFound` or `Expired`) for the miss TTL.
    fn remember_miss(&self, id: KeyId, error: &KeyError, now_millis: i64) {
        let expired = match error {
            KeyError::NotFound => false,
            KeyError::Expired => true,
            _ => return,
        };
        let ttl = millis(self.inner.miss_ttl);
        if ttl == 0 {
            return;
        }
        let until = now_millis.saturating_add(ttl);
        let mut misses = lock(&self.inner.misses);
        make_room(
            &mut misses,
            self.inner.capacity,
            &id,
            |m| m.until > now_millis,
            |m| m.until,
        );
        misses.insert(id, Miss { expired, until });
    }

    /// Takes one fetch from this minute's ration; `Unavailable` when it is spent.
    fn take_fetch(&self, now_millis: i64) -> Result<(), KeyError> {
        let mut budget = lock(&self.inner.budget);
        if now_millis.saturating_sub(budget.window_start) >= 60_000
            || now_millis < budget.window_start
        {
            budget.window_start = now_millis;
            budget.started = 0;
        }
        if budget.started >= self.inner.fetches_per_minute {
            return Err(KeyError::unavailable(
                "too many key fetches this minute (KeyCacheBuilder::fetches_per_minute)",
            ));
        }
        budget.started += 1;
        Ok(())
    }

    /// What the cache holds for `id` at `now_millis`; past the TTL, this request is made the
    /// one to fetch the key again when no other may be doing it.
    fn held(&self, id: &KeyId, now_millis: i64, now_secs: i64) -> Held {
        let mut entries = self.entries();
        let Some(entry) = entries.get_mut(id) else {
            return Held::Nothing;
        };
        if entry.expires_at > now_millis {
            return Held::Fresh(Arc::clone(&entry.key));
        }
        let grace = millis(self.inner.stale_if_error);
        let usable =
            now_millis < entry.expires_at.saturating_add(grace) && entry.key.is_valid_at(now_secs);
        let interval = millis(KEY_REFRESH_INTERVAL);
        // After a clock that went back, no wait longer than the interval.
        let refresh = entry.refresh_at <= now_millis
            || entry.refresh_at > now_millis.saturating_add(interval);
        if refresh {
            entry.refresh_at = now_millis.saturating_add(interval);
        }
        Held::Stale {
            refresh,
            usable,
            held: Arc::clone(&entry.key),
        }
    }

    /// Keeps `key` for `id`, fetched at `now_millis` by fetch `flight`, for the TTL (never past
    /// its validity). The requests that shared the fetch share the key it gave.
    fn keep(&self, id: KeyId, mut key: RemoteKey, now_millis: i64, flight: u64) -> Arc<RemoteKey> {
        let mut expires_at = now_millis.saturating_add(millis(self.inner.ttl));
        if let Some(end) = key.not_after() {
            expires_at = expires_at.min(end.saturating_mul(1000).saturating_add(1000));
        }
        let grace = millis(self.inner.stale_if_error);
        let mut entries = self.entries();
        // The requests that shared a fetch share its key; an older fetch that ends after a
        // newer one (a slow source) does not replace the newer key.
        if let Some(entry) = entries.get(&id).filter(|e| e.flight >= flight) {
            return Arc::clone(&entry.key);
        }
        // Keys no longer usable go first; then those no request was verified with (what forged
        // requests made the cache fetch), then those whose TTL ends soonest.
        make_room(
            &mut entries,
            self.inner.capacity,
            &id,
            |e| e.expires_at.saturating_add(grace) > now_millis,
            |e| (e.key.is_proven(), e.expires_at),
        );
        // A key fetched again keeps its standing.
        if entries.get(&id).is_some_and(|e| e.key.is_proven()) {
            *key.proven.get_mut() = true;
        }
        let key = Arc::new(key);
        let entry = Entry {
            key: Arc::clone(&key),
            expires_at,
            refresh_at: expires_at,
            flight,
        };
        entries.insert(id, entry);
        key
    }

    /// Joins the fetch of `id` in flight, or starts one if `permit` allows (taking from the
    /// ration unless the held key was proven): the fetch, its id, and whether this request
    /// started it. One lock, so concurrent requests start one fetch.
    fn join_or_start(
        &self,
        id: &KeyId,
        key: &KeyRef<'_>,
        now_millis: i64,
        may_fetch: bool,
        proven: bool,
    ) -> Result<(u64, SharedFetch, bool), KeyError> {
        // Joinable while it started less than 30 s ago on the requests' clock; a request read
        // its clock a moment before another that started the fetch, so "ago" may be negative.
        let joinable = |f: &Flight| {
            let age = now_millis.saturating_sub(f.started);
            (-FLIGHT_JOINED_FOR_MILLIS..FLIGHT_JOINED_FOR_MILLIS).contains(&age)
        };
        let mut flights = lock(&self.inner.flights);
        if let Some(flight) = flights.get(id).filter(|f| joinable(f))
            && let Some(fetch) = flight.fetch.upgrade()
        {
            return Ok((flight.id, fetch, false));
        }
        if !may_fetch {
            return Err(KeyError::unavailable(
                "the key could not be fetched again yet (KEY_REFRESH_INTERVAL)",
            ));
        }
        // A key a request was verified with is fetched again outside the ration; one that only
        // forged requests named so far takes from it, as a new key does.
        if !proven {
            self.take_fetch(now_millis)?;
        }
        let source = Arc::clone(&self.inner.source);
        let key = key.clone().into_owned();
        let fetch: Fetch = Box::pin(async move {
            // A panicking source fails the requests that wait for it; it must not leave them
            // waiting (a `Shared` whose future panicked wakes no other waiter).
            let document = std::panic::AssertUnwindSafe(source.fetch_boxed(&key))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(KeyError::unavailable("the key source panicked")));
            document.map(Arc::new).map_err(Arc::new)
        });
        let fetch = fetch.shared();
        let flight = self.inner.next_flight.fetch_add(1, Ordering::Relaxed);
        // The map holds fetches weakly: one every request waiting for went away is dropped
        // (and stops), and its entry with it.
        flights.retain(|_, f| joinable(f) && f.fetch.upgrade().is_some());
        if let Some(weak) = fetch.downgrade() {
            flights.insert(
                id.clone(),
                Flight {
                    id: flight,
                    started: now_millis,
                    fetch: weak,
                },
            );
        }
        Ok((flight, fetch, true))
    }

    /// The key `key` names, for `scheme`, usable at `now`: from the cache, else fetched,
    /// parsed by [`Scheme::parse_remote_key`] and kept.
    pub async fn resolve(
        &self,
        scheme: &dyn Scheme,
        key: &KeyRef<'_>,
        now: OffsetDateTime,
    ) -> Result<Arc<RemoteKey>, KeyError> {
        let now_secs = now.unix_timestamp();
        let now_millis = crate::verify::unix_millis(now);
        let id = (key.scheme.to_string(), key.kind, key.id.to_string());
        let (stale, held, may_fetch) = match self.held(&id, now_millis, now_secs) {
            Held::Fresh(key) if key.is_valid_at(now_secs) => return Ok(key),
            Held::Fresh(_) => return Err(KeyError::Expired),
            Held::Stale {
                refresh,
                usable,
                held,
            } => {
                let stale = usable.then(|| Arc::clone(&held));
                if !refresh && let Some(stale) = stale {
                    // Another request fetches it again; this one does not wait.
                    return Ok(stale);
                }
                (stale, Some(held), refresh)
            }
            Held::Nothing => {
                if let Some(miss) = self.remembered_miss(&id, now_millis) {
                    return Err(miss);
                }
                (None, None, true)
            }
        };
        let proven = held.as_ref().is_some_and(|held| held.is_proven());
        let (flight, fetch, leader) =
            match self.join_or_start(&id, key, now_millis, may_fetch, proven) {
                Ok(flight) => flight,
                Err(error) => return stale.ok_or(error),
            };
        let document = fetch.await;
        let parsed = match document {
            Ok(document) => self.parse(scheme, key, &document, now_secs),
            Err(error) => Err(reissue(&error)),
        };
        let answer = match parsed {
            Ok(parsed) => Ok(self.keep(id.clone(), parsed, now_millis, flight)),
            Err(error @ (KeyError::NotFound | KeyError::Expired)) => {
                // The held key is dropped — unless a concurrent fetch replaced it meanwhile.
                if let Some(held) = held {
                    let mut entries = self.entries();
                    if entries.get(&id).is_some_and(|e| Arc::ptr_eq(&e.key, &held)) {
                        entries.remove(&id);
                    }
                }
                self.remember_miss(id.clone(), &error, now_millis);
                Err(error)
            }
            Err(error) => {
                // Not silently: the provider's key endpoint is failing, and the held key is
                // used until `stale_if_error` ends. Once per fetch, by the request that
                // started it.
                if leader && held.is_some() {
                    crate::telemetry::log_warn!(
                        error = %crate::telemetry::ErrorChain(&error),
                        stale = stale.is_some(),
                        "fetching a held key again failed"
                    );
                }
                stale.ok_or(error)
            }
        };
        // Only now: a request that arrived meanwhile joined the finished fetch, and one after
        // this finds what it left (the key, or the miss).
        let mut flights = lock(&self.inner.flights);
        if flights.get(&id).is_some_and(|f| f.id == flight) {
            flights.remove(&id);
        }
        answer
    }

    /// Parses a fetched `document` of `key`; `Expired` unless it is valid at `now_secs`.
    fn parse(
        &self,
        scheme: &dyn Scheme,
        key: &KeyRef<'_>,
        document: &[u8],
        now_secs: i64,
    ) -> Result<RemoteKey, KeyError> {
        if document.len() > MAX_KEY_DOCUMENT {
            return Err(KeyError::Invalid {
                reason: "a key document larger than 64 KiB",
            });
        }
        let mut parsed = scheme.parse_remote_key(key, document)?;
        if !parsed.is_valid_at(now_secs) {
            return Err(KeyError::Expired);
        }
        parsed.label = Some(match key.kind {
            KeyKind::KeyId => key.id.as_ref().into(),
            KeyKind::CertificateUrl => {
                let digest = <sha2::Sha256 as sha2::Digest>::digest(document);
                format!("sha256:{}", hex::encode(&digest[..8])).into()
            }
        });
        Ok(parsed)
    }

    /// Verifies a request with `verifier`, resolving the key it names first when its scheme
    /// fetches keys ([`Scheme::fetches_keys`]) and the verifier has none pinned; any other
    /// request is verified as [`Verifier::verify_request`] does. Uses the verifier's clock.
    pub async fn verify_request<'a>(
        &self,
        verifier: &'a Verifier,
        request: &Request<'a>,
    ) -> Result<Verified<'a>, KeyVerifyError> {
        self.verify_request_at(verifier, request, verifier.clock().now())
            .await
    }

    /// [`verify_request`](Self::verify_request) as if the request arrived at `now`.
    pub async fn verify_request_at<'a>(
        &self,
        verifier: &'a Verifier,
        request: &Request<'a>,
        now: OffsetDateTime,
    ) -> Result<Verified<'a>, KeyVerifyError> {
        let prepared = verifier.prepare(request, crate::verify::unix_millis(now))?;
        let remote = match prepared.key_ref() {
            Some(key) if verifier.fetches_keys() => {
                Some(self.resolve(verifier.scheme(), key, now).await?)
            }
            _ => None,
        };
        let verified = verifier.finish(prepared, request, remote.as_deref())?;
        // The fetched key is checked after the configured ones: did it match?
        if let Some(key) = &remote
            && verified.key_index() == verifier.key_count()
        {
            key.proven.store(true, Ordering::Relaxed);
        }
        Ok(verified)
    }
}

/// A shared fetch's error, for one of the requests that waited for it.
fn reissue(error: &Arc<KeyError>) -> KeyError {
    match &**error {
        KeyError::NotFound => KeyError::NotFound,
        KeyError::Expired => KeyError::Expired,
        KeyError::Invalid { reason } => KeyError::Invalid { reason },
        KeyError::NoSource => KeyError::NoSource,
        KeyError::Unavailable(_) => KeyError::Unavailable(Box::new(SharedCause(Arc::clone(error)))),
    }
}

/// The cause of a shared fetch's [`KeyError::Unavailable`]: shows as the source's own error.
struct SharedCause(Arc<KeyError>);

impl SharedCause {
    fn cause(&self) -> &(dyn std::error::Error + 'static) {
        match &*self.0 {
            KeyError::Unavailable(source) => source.as_ref(),
            other => other,
        }
    }
}

impl fmt::Debug for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.cause(), f)
    }
}

impl fmt::Display for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.cause(), f)
    }
}

impl std::error::Error for SharedCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause().source()
    }
}

/// `duration` in milliseconds, saturating.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Locks `mutex`; a panic while it was held leaves the maps consistent (every update is one
/// call), so a poisoned lock is used as it is.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Makes room for `id` in `map`, which holds at most `capacity` entries: when it is full and
/// `id` is not in it, the entries not worth `keep`ing go, then (if still full) the one of
/// lowest `rank`.
fn make_room<V, R: Ord>(
    map: &mut HashMap<KeyId, V>,
    capacity: usize,
    id: &KeyId,
    keep: impl Fn(&V) -> bool,
    rank: impl Fn(&V) -> R,
) {
    if map.len() < capacity || map.contains_key(id) {
        return;
    }
    map.retain(|_, v| keep(v));
    if map.len() >= capacity
        && let Some(lowest) = map
            .iter()
            .min_by_key(|(_, v)| rank(v))
            .map(|(k, _)| k.clone())
    {
        map.remove(&lowest);
    }
}

/// A request failed verification, or its key could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyVerifyError {
    /// The request failed verification.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The request's key could not be had.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl KeyVerifyError {
    /// The HTTP status to answer: [`VerifyError::status`] or [`KeyError::status`].
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Verify(e) => e.status(),
            Self::Key(e) => e.status(),
        }
    }

    /// The `Retry-After` to send, if any ([`KeyError::retry_after`]).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Verify(_) => None,
            Self::Key(e) => e.retry_after(),
        }
    }
}
