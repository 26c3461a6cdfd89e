//! The receiver: verify, then claim the delivery's dedup key.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, StatusCode};

use crate::dedup::{Claim, DedupStore, LeaseToken, MemoryStore, StoreError};
use crate::error::{ConfigError, VerifyError};
use crate::verify::{Verified, Verifier};

/// Default lease: how long a delivery may stay in its handler before a retry may take over.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Added to the replay window to get the default retention of timestamped schemes.
pub const RETENTION_MARGIN: Duration = Duration::from_secs(60);
/// Default retention for schemes that sign no timestamp (GitHub, Shopify): three days, which
/// covers Shopify's 48-hour retry schedule and GitHub's three-day redelivery window.
pub const UNTIMESTAMPED_RETENTION: Duration = Duration::from_secs(72 * 3600);
/// `Retry-After` suggested when the store fails.
pub const STORE_RETRY_AFTER: Duration = Duration::from_secs(5);

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
}

impl<St: DedupStore> ReceiverBuilder<St> {
    /// Prefix of every dedup key, so endpoints sharing a store do not collide. Default: the
    /// scheme's name. Give two endpoints of the same provider (two Stripe accounts) different
    /// namespaces.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// How long a claimed delivery may run before a retry may take it over. Default:
    /// [`DEFAULT_LEASE`]. A handler that outlives its lease may run twice; one that crashes
    /// delays the retry by up to the lease.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long completed keys are remembered. Default: the replay window plus
    /// [`RETENTION_MARGIN`], or [`UNTIMESTAMPED_RETENTION`] for schemes without a timestamp.
    /// See the [`Receiver`] docs for the trade-off.
    #[must_use]
    pub fn retain(mut self, retain: Duration) -> Self {
        self.retain = Some(retain);
        self
    }

    /// **Insecure**: when the store fails, process the delivery anyway, without deduplication,
    /// instead of answering 503. Duplicates and replays inside the time window then run the
    /// handler again. Default: off (fail closed).
    #[must_use]
    pub fn insecure_fail_open_on_store_error(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }

    /// Builds the receiver. Errors on a zero lease, or on a retention shorter than the replay
    /// window (`past + future` tolerance), which would let replays through.
    pub fn build(self) -> Result<Receiver<St>, ConfigError> {
        if self.lease.is_zero() {
            return Err(ConfigError::invalid("lease", "must be longer than zero"));
        }
        let window = self.verifier.tolerance_past() + self.verifier.tolerance_future();
        let timestamped = self.verifier.has_timestamp();
        let retain = match self.retain {
            Some(retain) if timestamped && retain < window => {
                return Err(ConfigError::invalid(
                    "retain",
                    format!(
                        "{} s is shorter than the replay window of {} s",
                        retain.as_secs(),
                        window.as_secs()
                    ),
                ));
            }
            Some(retain) if retain.is_zero() => {
                return Err(ConfigError::invalid("retain", "must be longer than zero"));
            }
            Some(retain) => retain,
            None if timestamped => window + RETENTION_MARGIN,
            None => UNTIMESTAMPED_RETENTION,
        };
        let namespace = self
            .namespace
            .unwrap_or_else(|| self.verifier.scheme().name().to_owned());
        Ok(Receiver {
            inner: Arc::new(Inner {
                verifier: self.verifier,
                store: self.store,
                namespace,
                lease: self.lease,
                retain,
                fail_open: self.fail_open,
            }),
        })
    }
}

impl<St: DedupStore> Receiver<St> {
    /// A receiver with the default lease, retention and namespace.
    pub fn new(verifier: Verifier, store: St) -> Self {
        Self::builder(verifier, store)
            .build()
            .expect("the defaults are valid")
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

    /// The store key of a verified delivery: `{namespace}:{dedup key}`.
    pub fn store_key(&self, verified: &Verified<'_>) -> String {
        format!("{}:{}", self.inner.namespace, verified.dedup_key())
    }

    /// Verifies the request and claims its dedup key.
    ///
    /// A [`Delivery`] that is dropped without [`complete`](Delivery::complete) or
    /// [`release`](Delivery::release) is never counted as processed: when its lease runs out, the
    /// sender's retry goes through.
    pub async fn receive(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Outcome<St>, ReceiveError> {
        // Owned first: a body event id (Stripe, Slack) is then read once, not again for the key.
        let verified = self.inner.verifier.verify(headers, body)?.into_owned();
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
            .field("token", &self.token)
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
    /// that can outlive the lease idempotent, or raise the lease.
    pub async fn complete(self) -> Result<bool, StoreError> {
        let Some(token) = self.token else {
            return Ok(false);
        };
        let inner = &self.receiver.inner;
        inner.store.complete(&self.key, token, inner.retain).await
    }

    /// Forgets the claim, so the sender's retry is processed. `Ok(false)` means the lease had
    /// already been lost.
    pub async fn release(self) -> Result<bool, StoreError> {
        let Some(token) = self.token else {
            return Ok(false);
        };
        self.receiver.inner.store.release(&self.key, token).await
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
}

impl ReceiveError {
    /// The HTTP status to answer: [`VerifyError::status`], or 503 for a store failure.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Verify(e) => e.status(),
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `Retry-After` to send with the status, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Verify(_) => None,
            Self::Store(_) => Some(STORE_RETRY_AFTER),
        }
    }
}
