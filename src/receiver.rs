//! The receiver: verify, then claim the delivery's dedup key.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use sha2::Digest as _;

use crate::dedup::{Claim, DedupStore, LeaseToken, MemoryStore, StoreError};
use crate::error::{ConfigError, VerifyError};
use crate::keysource::{KeyCache, KeyError, KeyVerifyError};
use crate::providers::Request;
use crate::telemetry;
use crate::verify::{DedupKey, Verified, Verifier};

/// Default lease: how long a delivery may stay in its handler before a retry may take over.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Added to the replay window to get the default retention of timestamped schemes.
pub const RETENTION_MARGIN: Duration = Duration::from_secs(60);
/// Default retention for schemes that sign no timestamp (GitHub, Shopify): three days, which
/// covers Shopify's 48-hour retry schedule and GitHub's three-day redelivery window.
pub const UNTIMESTAMPED_RETENTION: Duration = Duration::from_secs(72 * 3600);
/// `Retry-After` suggested when the store fails.
pub const STORE_RETRY_AFTER: Duration = Duration::from_secs(5);
/// The longest lease: one day.
pub const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);
/// The longest retention: ten years.
pub const MAX_RETAIN: Duration = Duration::from_secs(3650 * 24 * 3600);
/// Event ids longer than this (in bytes), or with characters outside visible ASCII, are stored
/// as their SHA-256 (`idsha256:<hex>`), so every store can index every key.
pub const MAX_STORED_ID: usize = 128;
/// The longest namespace, in bytes.
pub const MAX_NAMESPACE: usize = 64;

/// The URL a sender called, for schemes that sign it (Twilio, Square): behind a proxy, the URI
/// the server sees is not the URL the provider signed. Receivers of such schemes must be given
/// one ([`ReceiverBuilder::public_url`]); without it they answer 500 (a configuration mistake).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicUrl {
    /// **Use with care**: `https://` + the request's `Host` header + its path and query as
    /// received. The `Host` header is the sender's to choose, so a signature captured for one of
    /// your endpoints (another host of the same provider account) verifies at this one when
    /// replayed with that `Host`. Prefer [`Base`](Self::Base) or [`Exact`](Self::Exact). A
    /// request without a `Host` (or with one that is not text) is refused as malformed (400).
    FromHost,
    /// This base (`https://hooks.example.com`, or with a path prefix) + each request's path and
    /// query as received.
    Base(String),
    /// This URL, whatever the request's path (Square signs the subscription's notification URL
    /// byte for byte).
    Exact(String),
}

impl PublicUrl {
    /// Refuses a base or exact URL that is not an absolute `http(s)` URL with a host (and, for
    /// a base, no query or fragment): every delivery would otherwise fail verification.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let (url, base) = match self {
            Self::FromHost => return Ok(()),
            Self::Base(url) => (url, true),
            Self::Exact(url) => (url, false),
        };
        let uri = url.parse::<http::Uri>().ok();
        let absolute = uri.as_ref().is_some_and(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.authority().is_some_and(|a| !a.host().is_empty())
                && !(base && uri.query().is_some())
        });
        if !absolute || url.contains('#') {
            return Err(ConfigError::invalid(
                "public_url",
                if base {
                    "a base must be an absolute http(s) URL with a host and no query or fragment"
                } else {
                    "an exact URL must be an absolute http(s) URL with a host and no fragment"
                },
            ));
        }
        Ok(())
    }

    /// The URL for a request to `path_and_query` with `host`; `None` when it cannot be told
    /// (no `Host` for [`FromHost`](Self::FromHost)).
    pub fn resolve(&self, host: Option<&str>, path_and_query: &str) -> Option<String> {
        match self {
            Self::FromHost => Some(format!("https://{}{path_and_query}", host?)),
            Self::Base(base) => Some(format!("{}{path_and_query}", base.trim_end_matches('/'))),
            Self::Exact(url) => Some(url.clone()),
        }
    }
}

/// A scheme that signs the URL found none. With [`PublicUrl::FromHost`] and a request that had
/// no `Host` (HTTP/1.0) or one that is not text, that is the request's fault, not a
/// configuration mistake: 400 rather than the 500 of [`VerifyError::NoPublicUrl`].
pub(crate) fn url_error(
    error: VerifyError,
    public_url: Option<&PublicUrl>,
    headers: &http::HeaderMap,
) -> VerifyError {
    match (error, public_url) {
        (VerifyError::NoPublicUrl, Some(PublicUrl::FromHost)) => {
            match headers.get(http::header::HOST).map(|host| host.to_str()) {
                None => VerifyError::missing(&http::header::HOST),
                Some(Err(_)) => VerifyError::malformed(&http::header::HOST, "not visible ASCII"),
                // A usable `Host` and still no URL: the caller gave none (a configuration
                // mistake, as without `FromHost`).
                Some(Ok(_)) => VerifyError::NoPublicUrl,
            }
        }
        (error, _) => error,
    }
}

/// Verifies deliveries and claims them in a [`DedupStore`], so each event is handled once.
///
/// Cheap to clone (one `Arc`).
///
/// # Retention: replay window and idempotency
///
/// A timestamped request passes verification only while `now` is within
/// `[ts − future tolerance, ts + past tolerance]`; remembering completed keys for
/// `past + future` + [`RETENTION_MARGIN`] (the default) therefore refuses every replay: inside
/// the window the key is known, after it the timestamp check refuses the request. Retention
/// shorter than that is refused at build time.
///
/// Senders also *retry* — with a fresh signature and timestamp, but the same event id — when they
/// did not see your 2xx (a timeout, a lost response). A retry that arrives after the retention
/// is processed again. Raise the retention to cover the sender's retry schedule (Stripe retries
/// for three days) when duplicates are costly; the price is memory or rows in the store.
///
/// Schemes with no signed timestamp (GitHub, Shopify) have no replay window at all: a captured
/// request can be replayed any time later, and only deduplication refuses it. Their default
/// retention is [`UNTIMESTAMPED_RETENTION`].
///
/// ```
/// use webhook_receiver::{Outcome, Receiver, Verifier, dedup::MemoryStore, providers::Stripe};
/// use webhook_receiver::testing::Signer;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let verifier = Verifier::builder(Stripe::new()).secret("whsec_test_secret").build()?;
/// let receiver = Receiver::new(verifier, MemoryStore::new());
///
/// let body = br#"{"id":"evt_1"}"#;
/// let headers = Signer::new(Stripe::new(), "whsec_test_secret")?.sign(body)?;
/// match receiver.receive(&headers, body).await? {
///     Outcome::New(delivery) => {
///         // run the handler; then
///         delivery.complete().await?; // or `release()` if it failed
///     }
///     Outcome::Duplicate(_) => { /* already processed: answer 200 */ }
///     Outcome::InFlight { .. } => { /* answer 409 + Retry-After */ }
/// }
/// assert!(matches!(receiver.receive(&headers, body).await?, Outcome::Duplicate(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Receiver<St = MemoryStore> {
    inner: Arc<Inner<St>>,
}

struct Inner<St> {
    verifier: Verifier,
    store: St,
    namespace: String,
    lease: Duration,
    retain: Duration,
    fail_open: bool,
    public_url: Option<PublicUrl>,
    keys: Option<KeyCache>,
}

impl<St> Clone for Receiver<St> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<St: fmt::Debug> fmt::Debug for Receiver<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("verifier", &self.inner.verifier)
            .field("store", &self.inner.store)
            .field("namespace", &self.inner.namespace)
            .field("lease", &self.inner.lease)
            .field("retain", &self.inner.retain)
            .field("fail_open", &self.inner.fail_open)
            .field("public_url", &self.inner.public_url)
            .field("keys", &self.inner.keys)
            .finish()
    }
}

/// Configures a [`Receiver`].
#[derive(Debug)]
pub struct ReceiverBuilder<St> {
    verifier: Verifier,
    store: St,
    namespace: Option<String>,
    lease: Duration,
    retain: Option<Duration>,
    fail_open: bool,
    public_url: Option<PublicUrl>,
    keys: Option<KeyCache>,
}

impl<St: DedupStore> ReceiverBuilder<St> {
    /// Prefix of every dedup key, so endpoints sharing a store do not collide: visible ASCII
    /// other than `:`, at most [`MAX_NAMESPACE`] bytes.
    ///
    /// Default: the scheme's name and a fingerprint of the first configured key
    /// (`stripe-3f9a…`, see [`Verifier::key_fingerprint`]), so two endpoints of one provider
    /// with different keys (two Stripe accounts) never share keys — a sender cannot pre-claim
    /// another endpoint's event ids. The default changes when the first key changes: **set a
    /// namespace per endpoint** (`"stripe-billing"`) to keep deduplicating across a key
    /// rotation, or rotate by adding the new key after the current one.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// How long a claimed delivery may run before a retry may take it over. Default:
    /// [`DEFAULT_LEASE`]; from 1 ms to [`MAX_LEASE`]. A handler that outlives its lease may run
    /// twice; one that crashes delays the retry by up to the lease.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long completed keys are remembered. Default: the replay window plus
    /// [`RETENTION_MARGIN`], or [`UNTIMESTAMPED_RETENTION`] for schemes without a timestamp.
    /// For timestamped schemes it must be longer than the replay window; at most
    /// [`MAX_RETAIN`]. See the [`Receiver`] docs for the trade-off.
    #[must_use]
    pub fn retain(mut self, retain: Duration) -> Self {
        self.retain = Some(retain);
        self
    }

    /// **Insecure**: when the store fails, process the delivery anyway, without deduplication,
    /// instead of answering 503. Duplicates and replays inside the time window then run the
    /// handler again. Such deliveries are not [claimed](Delivery::is_claimed); the adapters log
    /// a warning for each, and with the feature `metrics` they are counted with
    /// `outcome="unguarded"`. Default: off (fail closed).
    #[must_use]
    pub fn insecure_fail_open_on_store_error(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }

    /// The URL the sender calls, for schemes that sign it (Twilio, Square); see [`PublicUrl`].
    /// Default: none, and such schemes answer 500 until it is set.
    #[must_use]
    pub fn public_url(mut self, public_url: PublicUrl) -> Self {
        self.public_url = Some(public_url);
        self
    }

    /// Where keys fetched at run time come from, for schemes that name one per request (AWS
    /// SNS, PayPal, Plaid; see [`keysource`](crate::keysource)): the receiver resolves each
    /// request's key through the cache before verifying it. A key that cannot be fetched is
    /// answered 503 + `Retry-After`; an unknown or unusable one 401. Default: none, and such
    /// schemes answer 500 until it is set (unless their verifier pins a key). Other schemes
    /// ignore it.
    #[must_use]
    pub fn key_cache(mut self, cache: KeyCache) -> Self {
        self.keys = Some(cache);
        self
    }

    /// Builds the receiver. Errors (naming the setting) on a lease out of range, a retention not
    /// longer than the replay window (`past + future` tolerance, which would let replays
    /// through) or out of range, a namespace that is empty, too long or not visible ASCII, or a
    /// public URL that is not an absolute `http(s)` URL.
    pub fn build(self) -> Result<Receiver<St>, ConfigError> {
        if self.lease.is_zero() || self.lease > MAX_LEASE {
            return Err(ConfigError::invalid(
                "lease",
                "must be from 1 ms to one day",
            ));
        }
        let (namespace, retain) = endpoint_settings(&self.verifier, self.namespace, self.retain)?;
        if let Some(url) = &self.public_url {
            url.validate()?;
        }
        Ok(Receiver {
            inner: Arc::new(Inner {
                verifier: self.verifier,
                store: self.store,
                namespace,
                lease: self.lease,
                retain,
                fail_open: self.fail_open,
                public_url: self.public_url,
                keys: self.keys,
            }),
        })
    }
}

impl<St: DedupStore> Receiver<St> {
    /// A receiver with the default lease, retention and namespace.
    pub fn new(verifier: Verifier, store: St) -> Self {
        Self::builder(verifier, store)
            .build()
            .expect("the defaults are valid for every verifier")
    }

    /// Configures a receiver.
    pub fn builder(verifier: Verifier, store: St) -> ReceiverBuilder<St> {
        ReceiverBuilder {
            verifier,
            store,
            namespace: None,
            lease: DEFAULT_LEASE,
            retain: None,
            fail_open: false,
            public_url: None,
            keys: None,
        }
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The store.
    pub fn store(&self) -> &St {
        &self.inner.store
    }

    /// The dedup key namespace.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The lease.
    pub fn lease(&self) -> Duration {
        self.inner.lease
    }

    /// The retention of completed keys.
    pub fn retain(&self) -> Duration {
        self.inner.retain
    }

    /// How the public URL is found, if configured.
    pub fn public_url(&self) -> Option<&PublicUrl> {
        self.inner.public_url.as_ref()
    }

    /// The public URL of a request to `path_and_query` with this `Host` header, if a
    /// [`PublicUrl`] is configured (adapters pass it in the [`Request`]).
    pub fn request_url(&self, host: Option<&str>, path_and_query: &str) -> Option<String> {
        self.inner
            .public_url
            .as_ref()?
            .resolve(host, path_and_query)
    }

    /// The store key of a verified delivery: `{namespace}:{dedup key}`, at most
    /// [`MAX_NAMESPACE`] + [`MAX_STORED_ID`] + 12 bytes of visible ASCII: an event id that is
    /// longer or has other characters is stored as `idsha256:<hex of its SHA-256>`.
    pub fn store_key(&self, verified: &Verified<'_>) -> String {
        store_key(&self.inner.namespace, verified)
    }

    /// Verifies a `POST` with these headers and body and claims its dedup key (for schemes
    /// that do not sign the URL; see [`receive_request`](Self::receive_request)).
    ///
    /// A [`Delivery`] that is dropped without [`complete`](Delivery::complete) or
    /// [`release`](Delivery::release) is never counted as processed: when its lease runs out, the
    /// sender's retry goes through.
    pub async fn receive(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Outcome<St>, ReceiveError> {
        self.receive_request(&Request::new(headers, body)).await
    }

    /// Verifies a request (method, public URL, headers, body) and claims its dedup key.
    pub async fn receive_request(
        &self,
        request: &Request<'_>,
    ) -> Result<Outcome<St>, ReceiveError> {
        let result = self.claim_request(request).await.map_err(|e| match e {
            ReceiveError::Verify(e) => {
                ReceiveError::Verify(url_error(e, self.public_url(), request.headers))
            }
            e => e,
        });
        let (endpoint, provider) = (self.namespace(), self.inner.verifier.scheme().name());
        match &result {
            Ok(outcome) => {
                let (verified, outcome) = match outcome {
                    // Fail open past a store error: processed without deduplication.
                    Outcome::New(delivery) if delivery.token.is_none() => {
                        (&delivery.verified, "unguarded")
                    }
                    Outcome::New(delivery) => (&delivery.verified, "new"),
                    Outcome::Duplicate(verified) => (verified, "duplicate"),
                    Outcome::InFlight { verified, .. } => (verified, "in_flight"),
                };
                telemetry::received(endpoint, provider, verified.key_label(), outcome);
            }
            Err(error) => {
                let reason = match error {
                    ReceiveError::Verify(e) => telemetry::verify_reason(e),
                    ReceiveError::Store(_) => "store_unavailable",
                    ReceiveError::Key(KeyError::Unavailable(_)) => "key_unavailable",
                    ReceiveError::Key(KeyError::NoSource) => "no_key_source",
                    ReceiveError::Key(_) => "key",
                };
                telemetry::rejected(endpoint, provider, reason);
            }
        }
        result
    }

    async fn claim_request(&self, request: &Request<'_>) -> Result<Outcome<St>, ReceiveError> {
        // Owned first: a body event id (Stripe, Slack) is then read once, not again for the key.
        let verifier = &self.inner.verifier;
        let verified = match &self.inner.keys {
            Some(keys) if verifier.fetches_keys() => keys.verify_request(verifier, request).await?,
            None if verifier.fetches_keys() => return Err(KeyError::NoSource.into()),
            _ => verifier.verify_request(request)?,
        }
        .into_owned();
        let key = self.store_key(&verified);
        let claim = match self.inner.store.claim(&key, self.inner.lease).await {
            Ok(claim) => claim,
            Err(_) if self.inner.fail_open => {
                return Ok(Outcome::New(Delivery {
                    receiver: self.clone(),
                    key,
                    token: None,
                    verified,
                }));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(match claim {
            Claim::Acquired(token) => Outcome::New(Delivery {
                receiver: self.clone(),
                key,
                token: Some(token),
                verified,
            }),
            Claim::Completed => Outcome::Duplicate(verified),
            Claim::InFlight { retry_after } => Outcome::InFlight {
                verified,
                retry_after: retry_after.unwrap_or(self.inner.lease).clamp(
                    Duration::from_secs(1),
                    self.inner.lease.max(Duration::from_secs(1)),
                ),
            },
        })
    }
}

/// What [`Receiver::receive`] found.
#[allow(clippy::exhaustive_enums)] // The dedup protocol has exactly these outcomes.
pub enum Outcome<St = MemoryStore> {
    /// A new delivery: run the handler, then complete or release it.
    New(Delivery<St>),
    /// Already processed: answer 200 without running the handler.
    Duplicate(Verified<'static>),
    /// Another worker is processing it: answer 409 with `Retry-After` (not 2xx — that attempt
    /// may still fail).
    InFlight {
        /// The verified request.
        verified: Verified<'static>,
        /// Suggested wait: the remaining lease, at least one second.
        retry_after: Duration,
    },
}

impl<St> fmt::Debug for Outcome<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::New(d) => f.debug_tuple("New").field(d).finish(),
            Self::Duplicate(v) => f.debug_tuple("Duplicate").field(v).finish(),
            Self::InFlight {
                verified,
                retry_after,
            } => f
                .debug_struct("InFlight")
                .field("verified", verified)
                .field("retry_after", retry_after)
                .finish(),
        }
    }
}

/// A claimed delivery. Complete it after the handler succeeded, release it after it failed.
#[must_use = "complete or release the delivery; dropping it holds the lease until it expires"]
pub struct Delivery<St = MemoryStore> {
    receiver: Receiver<St>,
    key: String,
    token: Option<LeaseToken>,
    verified: Verified<'static>,
}

impl<St> fmt::Debug for Delivery<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("key", &self.key)
            .field("token", &self.token.map(|_| "[redacted]"))
            .field("verified", &self.verified)
            .finish()
    }
}

impl<St: DedupStore> Delivery<St> {
    /// The verified request.
    pub fn verified(&self) -> &Verified<'static> {
        &self.verified
    }

    /// The store key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the delivery holds a lease (false only when the store failed and the receiver is
    /// configured to fail open).
    pub fn is_claimed(&self) -> bool {
        self.token.is_some()
    }

    /// Records the event as processed. `Ok(false)` means the lease had been lost (it expired and
    /// another worker claimed the event), so the event may be processed twice: make handlers
    /// that can outlive the lease idempotent, or raise the lease — or that the delivery was
    /// never [claimed](Self::is_claimed) (the store failed and the receiver fails open).
    pub async fn complete(self) -> Result<bool, StoreError> {
        let inner = &self.receiver.inner;
        telemetry::finished(&inner.namespace, "completed");
        let Some(token) = self.token else {
            return Ok(false);
        };
        inner.store.complete(&self.key, token, inner.retain).await
    }

    /// Forgets the claim, so the sender's retry is processed. `Ok(false)` means the lease had
    /// already been lost, or that nothing was claimed (failing open).
    pub async fn release(self) -> Result<bool, StoreError> {
        telemetry::finished(&self.receiver.inner.namespace, "released");
        let Some(token) = self.token else {
            return Ok(false);
        };
        self.receiver.inner.store.release(&self.key, token).await
    }
}

/// The namespace and retention of an endpoint (a [`Receiver`] or an inbox endpoint), checked:
/// the namespace defaults to the scheme's name and the first key's fingerprint; the retention
/// to the replay window plus [`RETENTION_MARGIN`], or [`UNTIMESTAMPED_RETENTION`].
pub(crate) fn endpoint_settings(
    verifier: &Verifier,
    namespace: Option<String>,
    retain: Option<Duration>,
) -> Result<(String, Duration), ConfigError> {
    // Both tolerances are at most a year (checked by the verifier): no overflow.
    let window = verifier.tolerance_past() + verifier.tolerance_future();
    let timestamped = verifier.has_timestamp();
    let retain = match retain {
        Some(retain) if retain.is_zero() || retain > MAX_RETAIN => {
            return Err(ConfigError::invalid(
                "retain",
                "must be from 1 ms to ten years",
            ));
        }
        // Strictly longer: a request passes up to `ts + past` inclusive, and the key of one
        // completed at `ts - future` or later lives until `completion + retain`.
        Some(retain) if timestamped && retain <= window => {
            return Err(ConfigError::invalid(
                "retain",
                format!(
                    "{} ms is not longer than the replay window of {} ms",
                    retain.as_millis(),
                    window.as_millis()
                ),
            ));
        }
        Some(retain) => retain,
        None if timestamped => window + RETENTION_MARGIN,
        None => UNTIMESTAMPED_RETENTION,
    };
    let namespace = match namespace {
        Some(ns) => {
            if ns.is_empty()
                || ns.len() > MAX_NAMESPACE
                || !ns.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            {
                return Err(ConfigError::invalid(
                    "namespace",
                    "must be 1 to 64 visible ASCII characters other than `:`",
                ));
            }
            ns
        }
        // A custom scheme's name may hold anything: what a namespace may not is replaced.
        None => format!(
            "{}-{}",
            verifier
                .scheme()
                .name()
                .chars()
                .map(|c| if c.is_ascii_graphic() && c != ':' {
                    c
                } else {
                    '_'
                })
                .take(MAX_NAMESPACE - 17)
                .collect::<String>(),
            verifier.key_fingerprint()
        ),
    };
    Ok((namespace, retain))
}

/// `{namespace}:{dedup key}`, with long or non-ASCII event ids replaced by their SHA-256.
pub(crate) fn store_key(namespace: &str, verified: &Verified<'_>) -> String {
    match verified.dedup_key() {
        DedupKey::EventId(id)
            if id.len() > MAX_STORED_ID || !id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            let digest = sha2::Sha256::digest(id.as_bytes());
            format!("{namespace}:idsha256:{}", hex::encode(digest))
        }
        key => format!("{namespace}:{key}"),
    }
}

impl<St> Receiver<St> {
    /// The HTTP status to answer `error` with: the scheme's answer for a verification failure
    /// ([`Scheme::reject_status`](crate::Scheme::reject_status)), 503 for a store failure.
    pub fn reject_status(&self, error: &ReceiveError) -> StatusCode {
        match error {
            ReceiveError::Verify(e) => self.inner.verifier.scheme().reject_status(e),
            other => other.status(),
        }
    }
}

/// A delivery could not be received.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The request failed verification.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The dedup store failed (fail closed).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key the request names could not be had (schemes that fetch their keys).
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl From<KeyVerifyError> for ReceiveError {
    fn from(error: KeyVerifyError) -> Self {
        match error {
            KeyVerifyError::Verify(e) => Self::Verify(e),
            KeyVerifyError::Key(e) => Self::Key(e),
        }
    }
}

impl ReceiveError {
    /// The HTTP status to answer: [`VerifyError::status`], 503 for a store failure, or
    /// [`KeyError::status`] (503 when the key could not be fetched).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Verify(e) => e.status(),
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Key(e) => e.status(),
        }
    }

    /// The `Retry-After` to send with the status, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Verify(_) => None,
            Self::Store(_) => Some(STORE_RETRY_AFTER),
            Self::Key(e) => e.retry_after(),
        }
    }
}
