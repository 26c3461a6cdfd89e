//! Helpers for tests: sign requests as a provider would, and (feature `testing`) check a store
//! against the dedup contract.

use std::fmt;

use http::HeaderMap;

use crate::encoding::Algorithm;
use crate::error::ConfigError;
use crate::providers::{Parsed, Scheme, Timestamp};
use crate::verify::Verifier;

/// Signs requests exactly as a provider does, for tests of your own endpoints.
///
/// ```
/// use webhook_receiver::{Verifier, providers::Stripe, testing::Signer};
///
/// let signer = Signer::new(Stripe::new(), "whsec_test_secret")?.timestamp(1_767_225_600);
/// let headers = signer.sign(br#"{"id":"evt_1"}"#)?;
/// assert!(headers["stripe-signature"].to_str()?.starts_with("t=1767225600,v1="));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Signer {
    verifier: Verifier,
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
            verifier: Verifier::builder(scheme).secret(secret).build()?,
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
        let algorithm = self.algorithm.unwrap_or(scheme.algorithms()[0]);
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
