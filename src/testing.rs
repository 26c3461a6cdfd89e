//! Helpers for tests: sign requests as a provider would, serve the keys of providers that fetch
//! theirs ([`LocalKeys`]), and (feature `testing`) check a store against the dedup contract.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http::HeaderMap;
use sha2::Digest as _;

use crate::encoding::{Algorithm, BASE64_LENIENT, Encoding, KeyedMacs};
use crate::error::ConfigError;
use crate::keysource::{KeyError, KeyKind, KeyRef, KeySource};
use crate::providers::{Draft, FeedContent, Scheme, SignContent, SignedRequest};
use crate::secret::{Key, KeyFormat};

/// The size of the RSA keys [`Signer::generate`] makes, as AWS's and PayPal's certificates hold.
const RSA_BITS: usize = 2048;

/// A key that signs: a shared secret, or an Ed25519, ECDSA P-256 or RSA private key.
#[derive(Clone)]
enum SigningKey {
    Secret { macs: Box<KeyedMacs>, raw: Vec<u8> },
    Ed25519(Box<ed25519_dalek::SigningKey>),
    P256(Box<p256::ecdsa::SigningKey>),
    // `rsa::PrivateKey` zeroizes itself when dropped.
    Rsa(Box<rsa::PrivateKey>),
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
///
/// Schemes that fetch their keys at run time (AWS SNS, PayPal, Plaid) name a key in each
/// request ([`key_id`](Signer::key_id)); [`Signer::generate`] returns the document the provider
/// would serve for it, which a [`LocalKeys`] source serves to a
/// [`KeyCache`](crate::keysource::KeyCache). AWS SNS signs inside the body: sign a message with
/// [`sign_request`](Signer::sign_request) and send the body it returns.
///
/// ```
/// use webhook_receiver::keysource::KeyCache;
/// use webhook_receiver::providers::Sns;
/// use webhook_receiver::testing::{LocalKeys, Signer};
/// use webhook_receiver::{Request, Verifier};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let topic = "arn:aws:sns:us-east-1:123456789012:orders";
/// let (signer, certificate) = Signer::generate(Sns::new(topic)?)?;
/// let cache = KeyCache::new(LocalKeys::new().with(signer.remote_key_id().unwrap(), certificate));
///
/// // `TopicArn`, `MessageId`, `Timestamp` and the signature fields are filled in.
/// let signed = signer.sign_request(br#"{"Type":"Notification","Message":"order o_1 paid"}"#)?;
/// let verifier = Verifier::builder(Sns::new(topic)?).build()?;
/// let verified = cache
///     .verify_request(&verifier, &Request::new(&signed.headers, &signed.body))
///     .await?;
/// // Labelled with the certificate's fingerprint, not the URL the message named.
/// assert!(verified.key_label().is_some_and(|label| label.starts_with("sha256:")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// Plaid, whose JWT names a key id (`kid`) and whose key is a JSON Web Key:
///
/// ```
/// use webhook_receiver::keysource::KeyCache;
/// use webhook_receiver::providers::Plaid;
/// use webhook_receiver::testing::{LocalKeys, Signer};
/// use webhook_receiver::{Request, Verifier};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // `document` is what Plaid's `/webhook_verification_key/get` answers for the signer's `kid`.
/// let (signer, document) = Signer::generate(Plaid::new())?;
/// let keys = LocalKeys::new().with(signer.remote_key_id().unwrap(), document);
/// let cache = KeyCache::new(keys.clone());
///
/// let body = b"{\n  \"webhook_type\": \"ITEM\",\n  \"webhook_code\": \"WEBHOOK_UPDATE_ACKNOWLEDGED\"\n}";
/// let headers = signer.sign(body)?;
/// assert!(headers.contains_key("plaid-verification"));
/// let verifier = Verifier::builder(Plaid::new()).build()?;
/// assert!(cache.verify_request(&verifier, &Request::new(&headers, body)).await.is_ok());
/// assert_eq!(keys.fetches(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
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
    key_id: Option<String>,
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
            .field("key_id", &self.key_id)
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
/// for P-256, PKCS#8 (PEM, or base64 DER) or the 32-byte scalar in hex; for RSA, PKCS#8 or
/// PKCS#1 PEM.
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
        Algorithm::EcdsaP256Sha256 | Algorithm::Es256 => {
            use p256::pkcs8::DecodePrivateKey as _;
            let key = if text.starts_with("-----BEGIN") {
                public_pem(text)?;
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
        Algorithm::RsaSha1 | Algorithm::RsaSha256 => parse_rsa(text),
        _ => Err(invalid_key("this scheme signs with a shared secret")),
    }
}

/// Refuses a PEM certificate or public key given where a private key is expected.
fn public_pem(text: &str) -> Result<(), ConfigError> {
    if text.starts_with("-----BEGIN CERTIFICATE-----")
        || text.starts_with("-----BEGIN PUBLIC KEY-----")
        || text.starts_with("-----BEGIN RSA PUBLIC KEY-----")
    {
        return Err(invalid_key(
            "a certificate or public key verifies; signing needs the private key",
        ));
    }
    Ok(())
}

/// An RSA private key (1024 to 8192 bits, as verifiers accept) in PKCS#8 PEM
/// (`BEGIN PRIVATE KEY`) or PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`).
fn parse_rsa(text: &str) -> Result<SigningKey, ConfigError> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    public_pem(text)?;
    let key = if text.starts_with("-----BEGIN PRIVATE KEY-----") {
        rsa::PrivateKey::from_pkcs8_pem(text)
            .map_err(|_| invalid_key("not a PKCS#8 PEM RSA private key"))?
    } else if text.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
        rsa::PrivateKey::from_pkcs1_pem(text)
            .map_err(|_| invalid_key("not a PKCS#1 PEM RSA private key"))?
    } else if text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(invalid_key(
            "an encrypted private key: give it unencrypted (a test key)",
        ));
    } else {
        return Err(invalid_key(
            "not a PEM RSA private key (`BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`)",
        ));
    };
    if !(128..=1024).contains(&key.size()) {
        return Err(invalid_key("an RSA key has 1024 to 8192 bits"));
    }
    Ok(SigningKey::Rsa(Box::new(key)))
}

impl Signer {
    /// A signer for `scheme` with `key`: the shared secret as the provider shows it, or, for
    /// schemes that verify with a public key, the private key (see [`Signer::generate`]): for
    /// RSA schemes (AWS SNS, PayPal) a PKCS#8 PEM (`BEGIN PRIVATE KEY`) or PKCS#1 PEM
    /// (`BEGIN RSA PRIVATE KEY`); for P-256 schemes (SendGrid, Plaid) a PKCS#8 PEM or the
    /// 32-byte scalar in hex.
    ///
    /// # Errors
    ///
    /// A key the scheme cannot sign with, naming what is wrong and never the key.
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

    /// A signer with a fresh key pair, for a scheme that verifies with a public key, and the
    /// public side as the provider shows it:
    ///
    /// * for most schemes, the public key, ready for
    ///   [`VerifierBuilder::public_key`](crate::VerifierBuilder::public_key);
    /// * for schemes that fetch their keys, the document the provider serves for the key the
    ///   signer names ([`remote_key_id`](Signer::remote_key_id)), which the scheme's
    ///   [`parse_remote_key`](Scheme::parse_remote_key) accepts — serve it with [`LocalKeys`]:
    ///   for AWS SNS and PayPal a self-signed X.509 certificate in PEM over a new RSA-2048 key
    ///   (PayPal's with the subject `CN=messageverificationcerts.paypal.com` it requires),
    ///   valid from a day ago for five years; for Plaid the JSON its
    ///   `/webhook_verification_key/get` answers (`{"key": {…JWK…}, "request_id": …}`).
    ///
    /// An RSA key takes a few tenths of a second to generate in an unoptimized build (the search
    /// for primes varies, up to seconds on a busy machine): where many tests need one, generate
    /// it once and clone the signer.
    ///
    /// # Errors
    ///
    /// A scheme that signs with a shared secret, or the OS random source failing.
    pub fn generate(scheme: impl Scheme) -> Result<(Self, String), ConfigError> {
        let algorithm = scheme
            .algorithms()
            .iter()
            .copied()
            .find(|a| a.is_public_key())
            .ok_or_else(|| ConfigError::invalid("scheme", "signs with a shared secret"))?;
        let random_failed = || ConfigError::invalid("random", "the OS random source failed");
        let key = match algorithm {
            Algorithm::RsaSha1 | Algorithm::RsaSha256 => SigningKey::Rsa(Box::new(
                rsa::PrivateKey::new(&mut getrandom::SysRng, RSA_BITS)
                    .map_err(|_| random_failed())?,
            )),
            _ => loop {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|_| random_failed())?;
                if algorithm == Algorithm::Ed25519 {
                    break SigningKey::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(
                        &seed,
                    )));
                }
                // A random 32-byte string is a valid scalar with overwhelming probability.
                if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&seed) {
                    break SigningKey::P256(Box::new(key));
                }
            },
        };
        let signer = Self::with_key(scheme, key);
        let public = if signer.scheme.fetches_keys() {
            signer.remote_key_document()?
        } else {
            signer
                .public_key()
                .ok_or_else(|| ConfigError::invalid("scheme", "has no public key format"))?
        };
        Ok((signer, public))
    }

    fn with_key(scheme: impl Scheme, key: SigningKey) -> Self {
        let key_id = if scheme.fetches_keys() {
            key.public_digest()
                .and_then(|digest| scheme.default_key_id(&digest))
        } else {
            None
        };
        Self {
            scheme: Arc::new(scheme),
            key: Arc::new(key),
            id: None,
            timestamp_millis: None,
            algorithm: None,
            method: "POST".to_owned(),
            url: None,
            key_id,
        }
    }

    /// The public key matching this signer's private key, in the format the scheme parses
    /// (`whpk_…` for Standard Webhooks, hex for Discord, base64 DER for SendGrid, a JSON Web
    /// Key for Plaid, a self-signed certificate in PEM for AWS SNS and PayPal — made anew at
    /// each call); `None` for a shared secret.
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
            SigningKey::P256(k) if self.scheme.key_format() == KeyFormat::Jwk => {
                Some(self.jwk(k).to_string())
            }
            SigningKey::P256(k) => k
                .verifying_key()
                .to_public_key_der()
                .ok()
                .map(|der| BASE64_LENIENT.encode(der.as_bytes())),
            SigningKey::Rsa(k) => certificate(k, self.scheme.name()).ok(),
        }
    }

    /// The JSON Web Key of a P-256 key, with this signer's key id as its `kid`.
    fn jwk(&self, key: &p256::ecdsa::SigningKey) -> serde_json::Value {
        let point = key.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let mut jwk = serde_json::json!({
            "alg": "ES256",
            "crv": "P-256",
            "kty": "EC",
            "use": "sig",
            "x": b64(&bytes[1..33]),
            "y": b64(&bytes[33..]),
        });
        if let Some(kid) = &self.key_id {
            jwk["kid"] = serde_json::Value::String(kid.clone());
        }
        jwk
    }

    /// The document a provider serves for this signer's key, checked with the scheme's own
    /// [`parse_remote_key`](Scheme::parse_remote_key): a certificate for RSA keys; for P-256
    /// keys Plaid's answer (`{"key": jwk, "request_id": …}`), or the bare JWK if the scheme
    /// takes only that.
    fn remote_key_document(&self) -> Result<String, ConfigError> {
        let (kind, candidates) = match &*self.key {
            SigningKey::Rsa(k) => (
                KeyKind::CertificateUrl,
                vec![certificate(k, self.scheme.name())?],
            ),
            SigningKey::P256(k) => {
                let jwk = self.jwk(k);
                let mut created = jwk.clone();
                created["created_at"] = time::OffsetDateTime::now_utc().unix_timestamp().into();
                created["expired_at"] = serde_json::Value::Null;
                let answer = serde_json::json!({ "key": created, "request_id": request_id() });
                let pretty = serde_json::to_string_pretty(&answer).unwrap_or_default();
                (KeyKind::KeyId, vec![pretty, jwk.to_string()])
            }
            _ => {
                return Err(ConfigError::invalid(
                    "scheme",
                    "fetches keys this signer cannot publish",
                ));
            }
        };
        let id = self.key_id.as_deref().unwrap_or_default();
        let key = KeyRef::new(self.scheme.name().to_owned(), kind, id);
        candidates
            .into_iter()
            .find(|doc| self.scheme.parse_remote_key(&key, doc.as_bytes()).is_ok())
            .ok_or_else(|| ConfigError::invalid("scheme", "refuses the key document made for it"))
    }

    /// The key the signed requests name, for schemes that fetch their keys: the certificate URL
    /// (AWS SNS `SigningCertURL`, PayPal `PAYPAL-CERT-URL`) or the key id (Plaid's JWT `kid`),
    /// any text. Verifiers refuse certificate URLs off the provider's hosts — set one to test
    /// that.
    ///
    /// Default: one derived from the public key that passes the scheme's checks
    /// (`https://sns.us-east-1.amazonaws.com/SimpleNotificationService-….pem`,
    /// `https://api.paypal.com/v1/notifications/certs/CERT-…`, a UUID-shaped `kid`), the one the
    /// document of [`generate`](Signer::generate) is for.
    #[must_use]
    pub fn key_id(mut self, id: impl Into<String>) -> Self {
        self.key_id = Some(id.into());
        self
    }

    /// The key the signed requests name ([`key_id`](Signer::key_id)): what a
    /// [`KeySource`] is asked for ([`KeyRef::id`]). `None` for schemes that do not fetch their
    /// keys.
    pub fn remote_key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// The event id to sign, for schemes that sign one (AWS SNS `MessageId`, PayPal's
    /// transmission id). Default: a random `msg_…` per request.
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

    /// The algorithm, for schemes that accept several (GitHub's legacy SHA-1, AWS SNS
    /// `SignatureVersion` 1). Default: the scheme's first one this signer's key can sign with.
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
    /// (Mailgun, AWS SNS), use [`sign_request`](Signer::sign_request).
    ///
    /// # Errors
    ///
    /// A request the scheme cannot sign (see [`Scheme::sign`]: an SNS body that is not a JSON
    /// object, an algorithm the key cannot sign with).
    pub fn sign(&self, body: &[u8]) -> Result<HeaderMap, ConfigError> {
        self.sign_request(body).map(|signed| signed.headers)
    }

    /// The headers and body a sender would send for `body`.
    ///
    /// # Errors
    ///
    /// As [`sign`](Signer::sign).
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
            key_id: self.key_id.as_deref(),
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

/// A self-signed X.509 certificate in PEM for `key`, valid from a day ago for five years, with
/// the subject the scheme called `scheme` checks: PayPal requires its message-verification
/// subject; AWS SNS checks none and gets the common name of AWS's certificates.
fn certificate(key: &rsa::PrivateKey, scheme: &str) -> Result<String, ConfigError> {
    use std::str::FromStr as _;
    use std::time::{Duration, SystemTime};
    use x509_cert::builder::{Builder as _, CertificateBuilder};
    use x509_cert::der::EncodePem as _;
    use x509_cert::der::pem::LineEnding;
    use x509_cert::time::{Time, Validity};

    let failed = || ConfigError::invalid("certificate", "the test certificate could not be made");
    let subject = match scheme {
        "paypal" => "CN=messageverificationcerts.paypal.com,O=webhook-receiver test",
        "aws-sns" => "CN=sns.amazonaws.com,O=webhook-receiver test",
        _ => "CN=webhook-receiver test",
    };
    let subject = x509_cert::name::Name::from_str(subject).map_err(|_| failed())?;
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|_| failed())?;
    // Positive and 16 bytes long.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    let serial = x509_cert::serial_number::SerialNumber::new(&serial).map_err(|_| failed())?;
    const DAY: Duration = Duration::from_secs(24 * 3600);
    let now = SystemTime::now();
    let validity = Validity::new(
        Time::try_from(now - DAY).map_err(|_| failed())?,
        Time::try_from(now + 5 * 365 * DAY).map_err(|_| failed())?,
    );
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(key.as_public_key())
        .map_err(|_| failed())?;
    let builder = CertificateBuilder::new(SelfSigned { subject }, serial, validity, spki)
        .map_err(|_| failed())?;
    let signing = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    let cert = builder
        .build::<_, rsa::pkcs1v15::Signature>(&signing)
        .map_err(|_| failed())?;
    cert.to_pem(LineEnding::LF).map_err(|_| failed())
}

/// The profile of [`certificate`]: issued by its own subject, for signatures.
struct SelfSigned {
    subject: x509_cert::name::Name,
}

impl x509_cert::builder::profile::BuilderProfile for SelfSigned {
    fn get_issuer(&self, subject: &x509_cert::name::Name) -> x509_cert::name::Name {
        subject.clone()
    }

    fn get_subject(&self) -> x509_cert::name::Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: x509_cert::spki::SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: x509_cert::spki::SubjectPublicKeyInfoRef<'_>,
        tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<x509_cert::ext::Extension>> {
        use x509_cert::ext::ToExtension as _;
        use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
        let usage = KeyUsage(KeyUsages::DigitalSignature.into());
        Ok(vec![usage.to_extension(tbs.subject(), &[])?])
    }
}

impl SigningKey {
    fn can_sign(&self, algorithm: Algorithm) -> bool {
        match self {
            Self::Secret { .. } => algorithm.is_hmac() || algorithm == Algorithm::Token,
            Self::Ed25519(_) => algorithm == Algorithm::Ed25519,
            Self::P256(_) => matches!(algorithm, Algorithm::EcdsaP256Sha256 | Algorithm::Es256),
            Self::Rsa(_) => matches!(algorithm, Algorithm::RsaSha1 | Algorithm::RsaSha256),
        }
    }

    /// The SHA-256 of the public key (its DER `SubjectPublicKeyInfo`; an Ed25519 key's 32
    /// bytes); `None` for a shared secret.
    fn public_digest(&self) -> Option<[u8; 32]> {
        use p256::pkcs8::EncodePublicKey as _;
        let bytes = match self {
            Self::Secret { .. } => return None,
            Self::Ed25519(k) => k.verifying_key().to_bytes().to_vec(),
            Self::P256(k) => k.verifying_key().to_public_key_der().ok()?.into_vec(),
            Self::Rsa(k) => {
                use rsa::pkcs8::EncodePublicKey as _;
                k.as_public_key().to_public_key_der().ok()?.into_vec()
            }
        };
        Some(sha2::Sha256::digest(bytes).into())
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
            SigningKey::P256(key)
                if matches!(algorithm, Algorithm::EcdsaP256Sha256 | Algorithm::Es256) =>
            {
                use p256::ecdsa::signature::hazmat::PrehashSigner as _;
                let mut hash = sha2::Sha256::new();
                content(&mut |piece| hash.update(piece));
                let signature: p256::ecdsa::Signature = key
                    .sign_prehash(&hash.finalize())
                    .map_err(|_| unsupported())?;
                Ok(if algorithm == Algorithm::Es256 {
                    // JWS: the 64 bytes `r ‖ s`.
                    self.encoding.encode(&signature.to_bytes())
                } else {
                    self.encoding.encode(signature.to_der().as_bytes())
                })
            }
            SigningKey::Rsa(key) if algorithm == Algorithm::RsaSha1 => {
                let mut hash = sha1::Sha1::new();
                content(&mut |piece| hash.update(piece));
                key.sign(rsa::Pkcs1v15Sign::new::<sha1::Sha1>(), &hash.finalize())
                    .map(|signature| self.encoding.encode(&signature))
                    .map_err(|_| unsupported())
            }
            SigningKey::Rsa(key) if algorithm == Algorithm::RsaSha256 => {
                let mut hash = sha2::Sha256::new();
                content(&mut |piece| hash.update(piece));
                key.sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &hash.finalize())
                    .map(|signature| self.encoding.encode(&signature))
                    .map_err(|_| unsupported())
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

/// A `request_id` as Plaid's answers carry: 15 letters and digits.
fn request_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 15];
    if getrandom::fill(&mut bytes).is_err() {
        return "webhookreceiver".to_owned();
    }
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// What [`LocalKeys`] answers for one key.
#[derive(Clone)]
enum Served {
    Document(Arc<[u8]>),
    Unavailable,
}

#[derive(Default)]
struct LocalInner {
    served: Mutex<HashMap<String, Served>>,
    fetches: AtomicUsize,
}

/// A [`KeySource`] for tests: serves fixed documents by key id ([`KeyRef::id`]: a certificate
/// URL, a `kid`), answers [`KeyError::NotFound`] for any other key, and counts fetches. No
/// network.
///
/// Clones share their documents and count: keep one to change what is served
/// ([`serve`](LocalKeys::serve), [`unavailable`](LocalKeys::unavailable),
/// [`remove`](LocalKeys::remove)) or to count fetches after giving another to a
/// [`KeyCache`](crate::keysource::KeyCache).
///
/// ```
/// use webhook_receiver::keysource::{KeyCache, KeyError};
/// use webhook_receiver::testing::LocalKeys;
///
/// let keys = LocalKeys::new().with("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem", "-----BEGIN CERTIFICATE-----…");
/// let cache = KeyCache::new(keys.clone());
/// keys.unavailable("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-2.pem"); // answers 503
/// assert_eq!(keys.fetches(), 0);
/// # let _ = cache;
/// ```
#[derive(Clone, Default)]
pub struct LocalKeys {
    inner: Arc<LocalInner>,
}

impl fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let served = self.served();
        let mut ids: Vec<&str> = served.keys().map(String::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("LocalKeys")
            .field("ids", &ids)
            .field("fetches", &self.fetches())
            .finish()
    }
}

impl LocalKeys {
    /// A source that serves nothing yet: every key is [`KeyError::NotFound`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `document` (as the provider would: a PEM certificate, Plaid's JSON answer) for
    /// the key `id`.
    #[must_use]
    pub fn with(self, id: impl Into<String>, document: impl AsRef<[u8]>) -> Self {
        self.serve(id, document);
        self
    }

    /// Serves `document` for the key `id` from now on, through every clone.
    pub fn serve(&self, id: impl Into<String>, document: impl AsRef<[u8]>) {
        self.served()
            .insert(id.into(), Served::Document(Arc::from(document.as_ref())));
    }

    /// Fails fetches of the key `id` with [`KeyError::Unavailable`] from now on (the provider
    /// is down: a receiver answers 503 + `Retry-After`).
    pub fn unavailable(&self, id: impl Into<String>) {
        self.served().insert(id.into(), Served::Unavailable);
    }

    /// Stops serving the key `id`: fetches answer [`KeyError::NotFound`].
    pub fn remove(&self, id: &str) {
        self.served().remove(id);
    }

    /// How many fetches were asked for, whatever they answered.
    pub fn fetches(&self) -> usize {
        self.inner.fetches.load(Ordering::SeqCst)
    }

    fn served(&self) -> std::sync::MutexGuard<'_, HashMap<String, Served>> {
        // Every update is one call: a panic elsewhere leaves the map consistent.
        self.inner
            .served
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl KeySource for LocalKeys {
    fn fetch<'a>(
        &'a self,
        key: &'a KeyRef<'a>,
    ) -> impl Future<Output = Result<Vec<u8>, KeyError>> + Send + 'a {
        self.inner.fetches.fetch_add(1, Ordering::SeqCst);
        let served = self.served().get(&*key.id).cloned();
        std::future::ready(match served {
            Some(Served::Document(document)) => Ok(document.to_vec()),
            Some(Served::Unavailable) => Err(KeyError::unavailable(
                "LocalKeys: this key is marked unavailable",
            )),
            None => Err(KeyError::NotFound),
        })
    }
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

        /// For a store on real time: 1 s leases (checks half a lease from its end, so a
        /// stall of up to half a second of a loaded machine passes), 64 concurrent claims.
        pub fn real_time() -> Self {
            Self {
                time: TimeTravel::Real,
                lease: Duration::from_secs(1),
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
