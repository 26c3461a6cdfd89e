//! Helpers for tests: sign requests as a provider would, and (feature `testing`) check a store
//! against the dedup contract.

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;

use crate::encoding::Algorithm;
use crate::error::ConfigError;
use crate::providers::{Parsed, Scheme, Timestamp};
use crate::verify::Verifier;

/// Signs requests exactly as a provider does, for tests of your own endpoints.
///
/// Setters consume the signer; clone it (cheap) to sign several requests differently.
///
/// ```
/// use webhook_receiver::{Verifier, providers::Stripe, testing::Signer};
///
/// let signer = Signer::new(Stripe::new(), "whsec_test_secret")?.timestamp(1_767_225_600);
/// let headers = signer.sign(br#"{"id":"evt_1"}"#)?;
/// assert!(headers["stripe-signature"].to_str()?.starts_with("t=1767225600,v1="));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Signer {
    verifier: Arc<Verifier>,
    id: Option<String>,
    timestamp: Option<i64>,
    algorithm: Option<Algorithm>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("scheme", &self.verifier.scheme())
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `scheme` with `secret`, written as the provider shows it.
    pub fn new(scheme: impl Scheme, secret: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            verifier: Arc::new(Verifier::builder(scheme).secret(secret).build()?),
            id: None,
            timestamp: None,
            algorithm: None,
        })
    }

    /// The event id to sign, for schemes that sign one. Default: a random `msg_…` per request.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The Unix timestamp to sign. Default: the current time at each [`sign`](Signer::sign).
    #[must_use]
    pub fn timestamp(mut self, unix_seconds: i64) -> Self {
        self.timestamp = Some(unix_seconds);
        self
    }

    /// The algorithm, for schemes that accept several (GitHub's legacy SHA-1). Default: the
    /// scheme's first.
    #[must_use]
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// The headers a sender would attach to `body`.
    pub fn sign(&self, body: &[u8]) -> Result<HeaderMap, ConfigError> {
        let scheme = self.verifier.scheme();
        let algorithm = self
            .algorithm
            .or_else(|| scheme.algorithms().first().copied())
            .ok_or_else(|| ConfigError::invalid("scheme", "declares no algorithm"))?;
        let unix = self
            .timestamp
            .unwrap_or_else(|| self.verifier.clock().now().unix_timestamp());
        let text = unix.to_string();
        let id = match &self.id {
            Some(id) => id.clone(),
            None => random_id(),
        };
        let parsed = Parsed::new(algorithm)
            .with_id(&id)
            .with_timestamp(Timestamp::new(unix, &text));
        let signature = self
            .verifier
            .sign_parsed(&parsed, body)
            .ok_or_else(|| ConfigError::invalid("algorithm", "not supported by this scheme"))?;
        let mut headers = HeaderMap::new();
        scheme.write_headers(&parsed, &signature, &mut headers)?;
        Ok(headers)
    }
}

fn random_id() -> String {
    let mut bytes = [0u8; 12];
    // An id only needs to be unique; fall back to the time if the OS has no randomness.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        bytes.copy_from_slice(&nanos.to_le_bytes()[..12]);
    }
    format!("msg_{}", hex::encode(bytes))
}

#[cfg(all(feature = "testing", feature = "inbox"))]
pub use crate::inbox::contract::{InboxContractConfig, inbox_contract};
#[cfg(feature = "testing")]
pub use contract::{ContractConfig, TimeTravel, store_contract};

#[cfg(feature = "testing")]
mod contract {
    use std::time::Duration;

    use futures_util::future::join_all;

    use crate::clock::ManualClock;
    use crate::dedup::{Claim, DedupStore, LeaseToken};

    /// How the contract suite moves time forward for the store under test.
    #[derive(Debug, Clone, Copy)]
    #[non_exhaustive]
    pub enum TimeTravel<'a> {
        /// The store reads this clock: advancing it is instant.
        Manual(&'a ManualClock),
        /// The store uses real time (a server's clock): the suite sleeps.
        Real,
    }

    impl TimeTravel<'_> {
        async fn pass(&self, by: Duration) {
            match self {
                Self::Manual(clock) => clock.advance(by),
                Self::Real => futures_timer::Delay::new(by).await,
            }
        }
    }

    /// Settings for [`store_contract`].
    #[derive(Debug, Clone, Copy)]
    #[non_exhaustive]
    pub struct ContractConfig<'a> {
        /// How time passes for the store.
        pub time: TimeTravel<'a>,
        /// The lease to claim with. With real time, keep it short (200 ms) but well above the
        /// store's round trip.
        pub lease: Duration,
        /// How many concurrent claims of one key to race.
        pub concurrency: usize,
    }

    impl<'a> ContractConfig<'a> {
        /// For a store on `clock`: 30-second leases, 64 concurrent claims.
        pub fn manual(clock: &'a ManualClock) -> Self {
            Self {
                time: TimeTravel::Manual(clock),
                lease: Duration::from_secs(30),
                concurrency: 64,
            }
        }

        /// For a store on real time: 300 ms leases, 64 concurrent claims.
        pub fn real_time() -> Self {
            Self {
                time: TimeTravel::Real,
                lease: Duration::from_millis(300),
                concurrency: 64,
            }
        }
    }

    fn acquired(claim: Claim, what: &str) -> LeaseToken {
        match claim {
            Claim::Acquired(token) => token,
            other => panic!("{what}: expected Acquired, got {other:?}"),
        }
    }

    fn in_flight(claim: Claim, lease: Duration, what: &str) {
        match claim {
            Claim::InFlight { retry_after } => assert!(
                retry_after.is_none_or(|r| r <= lease),
                "{what}: retry_after {retry_after:?} is longer than the lease {lease:?}"
            ),
            other => panic!("{what}: expected InFlight, got {other:?}"),
        }
    }

    /// Checks `store` against the [`DedupStore`] contract: sequential semantics, lease expiry,
    /// stale tokens, retention expiry, and `concurrency` simultaneous claims of one key of which
    /// exactly one is acquired. Runs on any async runtime; keys are random, so it can run against
    /// a shared server repeatedly.
    ///
    /// # Panics
    ///
    /// On the first violation, with a message naming it, or if the store returns an error.
    ///
    /// ```
    /// use webhook_receiver::ManualClock;
    /// use webhook_receiver::dedup::MemoryStore;
    /// use webhook_receiver::testing::{ContractConfig, store_contract};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let clock = ManualClock::at_unix(1_700_000_000);
    /// let store = MemoryStore::builder().clock(clock.clone()).build();
    /// store_contract(&store, ContractConfig::manual(&clock)).await;
    /// # });
    /// ```
    pub async fn store_contract<S: DedupStore + ?Sized>(store: &S, config: ContractConfig<'_>) {
        let lease = config.lease;
        let prefix = format!("contract:{:032x}", LeaseToken::random().get());
        let key = |name: &str| format!("{prefix}:{name}");
        let retain = lease * 4;

        // Claim, duplicate while in flight, complete, duplicate once completed.
        let k = key("sequential");
        let t1 = acquired(
            store.claim(&k, lease).await.expect("store error on claim"),
            "first claim",
        );
        in_flight(
            store.claim(&k, lease).await.expect("store error on claim"),
            lease,
            "second claim",
        );
        assert!(
            !store
                .release(&k, LeaseToken::random())
                .await
                .expect("store error on release"),
            "release with a foreign token must change nothing"
        );
        assert!(
            !store
                .complete(&k, LeaseToken::random(), retain)
                .await
                .expect("store error on complete"),
            "complete with a foreign token must change nothing"
        );
        assert!(
            store
                .complete(&k, t1, retain)
                .await
                .expect("store error on complete"),
            "complete with the current token must succeed"
        );
        assert_eq!(
            store.claim(&k, lease).await.expect("store error on claim"),
            Claim::Completed,
            "a completed key must answer Completed"
        );
        assert!(
            !store.release(&k, t1).await.expect("store error on release"),
            "release after complete must change nothing"
        );
        assert!(
            !store
                .complete(&k, t1, retain)
                .await
                .expect("store error on complete"),
            "a second complete must report nothing changed"
        );
        assert_eq!(
            store.claim(&k, lease).await.expect("store error on claim"),
            Claim::Completed
        );

        // Release lets the next claim through with a new token.
        let k = key("release");
        let t1 = acquired(
            store.claim(&k, lease).await.expect("store error on claim"),
            "claim",
        );
        assert!(
            store.release(&k, t1).await.expect("store error on release"),
            "release must succeed"
        );
        let t2 = acquired(
            store.claim(&k, lease).await.expect("store error on claim"),
            "claim after release",
        );
        assert_ne!(t1, t2, "a new claim must get a new token");
        assert!(
            !store.release(&k, t1).await.expect("store error on release"),
            "releasing with the old token must change nothing"
        );
        in_flight(
            store.claim(&k, lease).await.expect("store error on claim"),
            lease,
            "after stale release",
        );

        // Independent keys.
        let a = acquired(
            store
                .claim(&key("a"), lease)
                .await
                .expect("store error on claim"),
            "key a",
        );
        let b = acquired(
            store
                .claim(&key("b"), lease)
                .await
                .expect("store error on claim"),
            "key b",
        );
        assert!(
            store
                .complete(&key("a"), a, retain)
                .await
                .expect("store error on complete")
        );
        in_flight(
            store
                .claim(&key("b"), lease)
                .await
                .expect("store error on claim"),
            lease,
            "key b",
        );
        assert!(
            store
                .release(&key("b"), b)
                .await
                .expect("store error on release")
        );

        // Lease expiry and stale tokens.
        let k = key("lease");
        let stale = acquired(
            store.claim(&k, lease).await.expect("store error on claim"),
            "claim",
        );
        config.time.pass(lease / 2).await;
        in_flight(
            store.claim(&k, lease).await.expect("store error on claim"),
            lease,
            "half-way through the lease",
        );
        config.time.pass(lease).await;
        let fresh = acquired(
            store.claim(&k, lease).await.expect("store error on claim"),
            "claim after the lease expired",
        );
        assert_ne!(stale, fresh);
        assert!(
            !store
                .complete(&k, stale, retain)
                .await
                .expect("store error on complete"),
            "complete with a stale token must change nothing"
        );
        assert!(
            !store
                .release(&k, stale)
                .await
                .expect("store error on release"),
            "release with a stale token must change nothing"
        );
        in_flight(
            store.claim(&k, lease).await.expect("store error on claim"),
            lease,
            "the fresh claim must survive stale calls",
        );
        assert!(
            store
                .complete(&k, fresh, retain)
                .await
                .expect("store error on complete")
        );
        assert_eq!(
            store.claim(&k, lease).await.expect("store error on claim"),
            Claim::Completed
        );

        // Retention expiry: remembered for `retain`, then claimable again.
        let k = key("retention");
        let t = acquired(
            store.claim(&k, lease).await.expect("store error on claim"),
            "claim",
        );
        assert!(
            store
                .complete(&k, t, lease)
                .await
                .expect("store error on complete")
        );
        config.time.pass(lease / 2).await;
        assert_eq!(
            store.claim(&k, lease).await.expect("store error on claim"),
            Claim::Completed,
            "inside the retention"
        );
        config.time.pass(lease).await;
        let t = acquired(
            store.claim(&k, lease).await.expect("store error on claim"),
            "claim after the retention expired",
        );
        assert!(store.release(&k, t).await.expect("store error on release"));

        // A lease that expired without anyone claiming since can still be completed.
        let k = key("late-complete");
        let t = acquired(
            store.claim(&k, lease).await.expect("store error on claim"),
            "claim",
        );
        config.time.pass(lease + lease / 2).await;
        assert!(
            store
                .complete(&k, t, retain)
                .await
                .expect("store error on complete"),
            "an expired lease nobody took over can still be completed"
        );
        assert_eq!(
            store.claim(&k, lease).await.expect("store error on claim"),
            Claim::Completed
        );

        // Concurrency: exactly one of N simultaneous claims acquires.
        let k = key("race");
        let claims = join_all((0..config.concurrency.max(2)).map(|_| store.claim(&k, lease))).await;
        let mut acquired_count = 0;
        for claim in claims {
            match claim.expect("store error on concurrent claim") {
                Claim::Acquired(_) => acquired_count += 1,
                Claim::InFlight { .. } => {}
                Claim::Completed => panic!("concurrent claims of a new key cannot be Completed"),
            }
        }
        assert_eq!(
            acquired_count, 1,
            "exactly one concurrent claim must be Acquired"
        );
    }
}
