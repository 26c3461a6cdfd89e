//! Helpers for tests: sign requests as a provider would, and (feature `testing`) check a store
//! against the dedup contract.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use http::HeaderMap;
use sha2::Digest as _;

use crate::encoding::{Algorithm, BASE64_LENIENT, Encoding, KeyedMacs};
use crate::error::ConfigError;
use crate::providers::{Draft, FeedContent, Scheme, SignContent, SignedRequest};
use crate::secret::{Key, KeyFormat};

/// A key that signs: a shared secret, or an Ed25519 or ECDSA P-256 private key.
#[derive(Clone)]
enum SigningKey {
    Secret { macs: Box<KeyedMacs>, raw: Vec<u8> },
    Ed25519(Box<ed25519_dalek::SigningKey>),
    P256(Box<p256::ecdsa::SigningKey>),
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        if let Self::Secret { raw, .. } = self {
            raw.zeroize();
        }
    }
}

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
///
/// Schemes that verify with a public key sign with the matching private key; [`Signer::generate`]
/// makes a key pair and gives the public key as the provider shows it:
///
/// ```
/// use webhook_receiver::{Verifier, providers::StandardWebhooks, testing::Signer};
///
/// let (signer, public_key) = Signer::generate(StandardWebhooks::new())?;
/// assert!(public_key.starts_with("whpk_"));
/// let verifier = Verifier::builder(StandardWebhooks::new()).public_key(&public_key).build()?;
/// let headers = signer.sign(b"{}")?;
/// assert!(headers["webhook-signature"].to_str()?.starts_with("v1a,"));
/// assert!(verifier.verify(&headers, b"{}").is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Signer {
    scheme: Arc<dyn Scheme>,
    key: Arc<SigningKey>,
    id: Option<String>,
    timestamp_millis: Option<i64>,
    algorithm: Option<Algorithm>,
    method: String,
    url: Option<String>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("scheme", &self.scheme)
            .field("key", &"[redacted]")
            .field("id", &self.id)
            .field("timestamp_millis", &self.timestamp_millis)
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn invalid_key(reason: &'static str) -> ConfigError {
    ConfigError::InvalidSecret {
        label: None,
        reason,
    }
}

/// Parses a private key for a scheme that verifies with public keys: `whsk_` + base64 (Svix's
/// layout: 32-byte seed, then the public key), or the 32-byte Ed25519 seed in hex or base64;
/// for P-256, PKCS#8 (PEM, or base64 DER) or the 32-byte scalar in hex.
fn parse_private(algorithm: Algorithm, text: &str) -> Result<SigningKey, ConfigError> {
    let text = text.trim();
    let decode = |t: &str| {
        hex::decode(t)
            .ok()
            .or_else(|| BASE64_LENIENT.decode(t).ok())
    };
    match algorithm {
        Algorithm::Ed25519 => {
            let bytes = match text.strip_prefix("whsk_") {
                Some(b64) => BASE64_LENIENT
                    .decode(b64)
                    .map_err(|_| invalid_key("not valid base64 after the `whsk_` prefix"))?,
                None => decode(text).ok_or(invalid_key("not a hex or base64 Ed25519 seed"))?,
            };
            let seed: [u8; 32] = bytes
                .get(..32)
                .filter(|_| bytes.len() == 32 || bytes.len() == 64)
                .and_then(|s| s.try_into().ok())
                .ok_or(invalid_key("an Ed25519 private key is a 32-byte seed"))?;
            Ok(SigningKey::Ed25519(Box::new(
                ed25519_dalek::SigningKey::from_bytes(&seed),
            )))
        }
        Algorithm::EcdsaP256Sha256 => {
            use p256::pkcs8::DecodePrivateKey as _;
            let key = if text.starts_with("-----BEGIN") {
                p256::ecdsa::SigningKey::from_pkcs8_pem(text)
                    .map_err(|_| invalid_key("not a PEM PKCS#8 P-256 private key"))?
            } else {
                let bytes = decode(text).ok_or(invalid_key("not hex or base64"))?;
                p256::ecdsa::SigningKey::from_pkcs8_der(&bytes)
                    .or_else(|_| p256::ecdsa::SigningKey::from_slice(&bytes))
                    .map_err(|_| invalid_key("not a P-256 private key"))?
            };
            Ok(SigningKey::P256(Box::new(key)))
        }
        _ => Err(invalid_key("this scheme signs with a shared secret")),
    }
}

impl Signer {
    /// A signer for `scheme` with `key`: the shared secret as the provider shows it, or, for
    /// schemes that verify with a public key, the private key (see [`Signer::generate`]).
    pub fn new(scheme: impl Scheme, key: &str) -> Result<Self, ConfigError> {
        let algorithms = scheme.algorithms();
        let symmetric = algorithms
            .iter()
            .any(|a| a.is_hmac() || *a == Algorithm::Token);
        let public = algorithms.iter().copied().find(|a| a.is_public_key());
        let signing = match (symmetric, public) {
            // A scheme with both kinds (Standard Webhooks): `whsk_` names the private key.
            (true, Some(p)) if key.trim().starts_with("whsk_") => parse_private(p, key)?,
            (true, _) => match scheme.parse_key(key)? {
                Key::Secret(secret) => SigningKey::Secret {
                    macs: Box::new(KeyedMacs::new(algorithms, secret.as_bytes())),
                    raw: secret.as_bytes().to_vec(),
                },
                Key::Public(_) => {
                    return Err(invalid_key(
                        "a public key verifies; signing needs the private key",
                    ));
                }
            },
            (false, Some(p)) => parse_private(p, key)?,
            (false, None) => return Err(ConfigError::invalid("scheme", "declares no algorithm")),
        };
        Ok(Self::with_key(scheme, signing))
    }

    /// A signer with a fresh key pair, for a scheme that verifies with a public key; returns the
    /// public key as the provider shows it, ready for
    /// [`VerifierBuilder::public_key`](crate::VerifierBuilder::public_key).
    pub fn generate(scheme: impl Scheme) -> Result<(Self, String), ConfigError> {
        let algorithm = scheme
            .algorithms()
            .iter()
            .copied()
            .find(|a| a.is_public_key())
            .ok_or_else(|| ConfigError::invalid("scheme", "signs with a shared secret"))?;
        let key = loop {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed)
                .map_err(|_| ConfigError::invalid("random", "the OS random source failed"))?;
            match algorithm {
                Algorithm::Ed25519 => {
                    break SigningKey::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(
                        &seed,
                    )));
                }
                // A random 32-byte string is a valid scalar with overwhelming probability.
                _ => {
                    if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&seed) {
                        break SigningKey::P256(Box::new(key));
                    }
                }
            }
        };
        let signer = Self::with_key(scheme, key);
        let public = signer
            .public_key()
            .expect("a generated key pair has a public key");
        Ok((signer, public))
    }

    fn with_key(scheme: impl Scheme, key: SigningKey) -> Self {
        Self {
            scheme: Arc::new(scheme),
            key: Arc::new(key),
            id: None,
            timestamp_millis: None,
            algorithm: None,
            method: "POST".to_owned(),
            url: None,
        }
    }

    /// The public key matching this signer's private key, in the format the scheme parses
    /// (`whpk_…` for Standard Webhooks, hex for Discord, base64 DER for SendGrid); `None` for a
    /// shared secret.
    pub fn public_key(&self) -> Option<String> {
        use p256::pkcs8::EncodePublicKey as _;
        match &*self.key {
            SigningKey::Secret { .. } => None,
            SigningKey::Ed25519(k) => {
                let bytes = k.verifying_key().to_bytes();
                Some(match self.scheme.key_format() {
                    KeyFormat::Whsec => format!("whpk_{}", BASE64_LENIENT.encode(bytes)),
                    KeyFormat::Ed25519Base64 | KeyFormat::Base64 => BASE64_LENIENT.encode(bytes),
                    _ => hex::encode(bytes),
                })
            }
            SigningKey::P256(k) => k
                .verifying_key()
                .to_public_key_der()
                .ok()
                .map(|der| BASE64_LENIENT.encode(der.as_bytes())),
        }
    }

    /// The event id to sign, for schemes that sign one. Default: a random `msg_…` per request.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The Unix timestamp (seconds) to sign. Default: the current time at each
    /// [`sign`](Signer::sign).
    #[must_use]
    pub fn timestamp(mut self, unix_seconds: i64) -> Self {
        self.timestamp_millis = Some(unix_seconds.saturating_mul(1000));
        self
    }

    /// The timestamp to sign, in milliseconds, for schemes whose timestamps have them.
    #[must_use]
    pub fn timestamp_millis(mut self, unix_millis: i64) -> Self {
        self.timestamp_millis = Some(unix_millis);
        self
    }

    /// The algorithm, for schemes that accept several (GitHub's legacy SHA-1). Default: the
    /// scheme's first one this signer's key can sign with.
    #[must_use]
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// The HTTP method, for schemes that sign it. Default: `POST`.
    #[must_use]
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = method.into();
        self
    }

    /// The URL the request is sent to, for schemes that sign it (Twilio, Square).
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The headers a sender would attach to `body`. For schemes that sign inside the body
    /// (Mailgun), use [`sign_request`](Signer::sign_request).
    pub fn sign(&self, body: &[u8]) -> Result<HeaderMap, ConfigError> {
        self.sign_request(body).map(|signed| signed.headers)
    }

    /// The headers and body a sender would send for `body`.
    pub fn sign_request(&self, body: &[u8]) -> Result<SignedRequest, ConfigError> {
        let scheme = &*self.scheme;
        let algorithm = match self.algorithm {
            Some(a) => a,
            None => scheme
                .algorithms()
                .iter()
                .copied()
                .find(|a| self.key.can_sign(*a))
                .ok_or_else(|| {
                    ConfigError::invalid("algorithm", "the key cannot sign for this scheme")
                })?,
        };
        let timestamp_millis = self.timestamp_millis.unwrap_or_else(|| {
            let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
            i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
        });
        let id = match &self.id {
            Some(id) => id.clone(),
            None => random_id(),
        };
        let draft = Draft {
            method: &self.method,
            url: self.url.as_deref(),
            id: &id,
            timestamp_millis,
            body,
            algorithm,
        };
        let mut out = SignedRequest::default();
        let mut signer = KeySigner {
            key: &self.key,
            encoding: scheme.encoding(),
        };
        scheme.sign(&draft, &mut signer, &mut out)?;
        Ok(out)
    }
}

impl SigningKey {
    fn can_sign(&self, algorithm: Algorithm) -> bool {
        match self {
            Self::Secret { .. } => algorithm.is_hmac() || algorithm == Algorithm::Token,
            Self::Ed25519(_) => algorithm == Algorithm::Ed25519,
            Self::P256(_) => algorithm == Algorithm::EcdsaP256Sha256,
        }
    }
}

struct KeySigner<'a> {
    key: &'a SigningKey,
    encoding: Encoding,
}

impl SignContent for KeySigner<'_> {
    fn sign(
        &mut self,
        algorithm: Algorithm,
        content: &mut FeedContent<'_>,
    ) -> Result<String, ConfigError> {
        let unsupported = || ConfigError::invalid("algorithm", "the key cannot sign with it");
        match self.key {
            SigningKey::Secret { raw, .. } if algorithm == Algorithm::Token => {
                String::from_utf8(raw.clone()).map_err(|_| invalid_key("a token is text"))
            }
            SigningKey::Secret { macs, .. } => macs
                .compute(algorithm, |feed| content(feed))
                .map(|tag| self.encoding.encode(tag.as_slice()))
                .ok_or_else(unsupported),
            SigningKey::Ed25519(key) if algorithm == Algorithm::Ed25519 => {
                use ed25519_dalek::Signer as _;
                let mut message = Vec::new();
                content(&mut |piece| message.extend_from_slice(piece));
                Ok(self.encoding.encode(&key.sign(&message).to_bytes()))
            }
            SigningKey::P256(key) if algorithm == Algorithm::EcdsaP256Sha256 => {
                use p256::ecdsa::signature::hazmat::PrehashSigner as _;
                let mut hash = sha2::Sha256::new();
                content(&mut |piece| hash.update(piece));
                let signature: p256::ecdsa::Signature = key
                    .sign_prehash(&hash.finalize())
                    .map_err(|_| unsupported())?;
                Ok(self.encoding.encode(signature.to_der().as_bytes()))
            }
            _ => Err(unsupported()),
        }
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

        // Any key the trait can be given is stored: long (a PostgreSQL index entry holds about
        // 2.7 KB), with a NUL (PostgreSQL `text` cannot hold one), or non-ASCII.
        for (what, k) in [
            ("a 3000-byte key", key(&"k".repeat(3000))),
            ("a key with a NUL", key("nul\0key")),
            ("a non-ASCII key", key("ключ-🔑")),
        ] {
            let t = acquired(
                store.claim(&k, lease).await.expect("store error on claim"),
                what,
            );
            in_flight(
                store.claim(&k, lease).await.expect("store error on claim"),
                lease,
                what,
            );
            assert!(
                store
                    .complete(&k, t, retain)
                    .await
                    .expect("store error on complete"),
                "{what}: complete must succeed"
            );
            assert_eq!(
                store.claim(&k, lease).await.expect("store error on claim"),
                Claim::Completed,
                "{what}"
            );
        }
        // Two long keys that differ only at the end are distinct.
        let (a, b) = (
            key(&format!("{}a", "x".repeat(3000))),
            key(&format!("{}b", "x".repeat(3000))),
        );
        acquired(
            store.claim(&a, lease).await.expect("store error on claim"),
            "long key a",
        );
        acquired(
            store.claim(&b, lease).await.expect("store error on claim"),
            "long key b",
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
