//! Keys: shared secrets and public keys, redacted and (secrets) zeroized, and the formats
//! providers show them in.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::encoding::BASE64_LENIENT;
use crate::error::ConfigError;

/// A shared signing secret.
///
/// The bytes are zeroized when the value is dropped. `Debug` prints `Secret([redacted])`; there is
/// no `Display` and no accessor outside this crate, so a secret cannot end up in a log line, an
/// error message or a panic by accident.
///
/// Most users never build one: [`VerifierBuilder::secret`](crate::VerifierBuilder::secret) takes
/// the secret as the provider shows it and parses it with the scheme's [`KeyFormat`].
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps raw key bytes. An empty key is refused.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, ConfigError> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(ConfigError::EmptySecret { label: None });
        }
        Ok(Self(bytes))
    }

    /// Parses a shared secret as a provider shows it, according to `format`.
    ///
    /// ```
    /// use webhook_receiver::{KeyFormat, Secret};
    ///
    /// // Standard Webhooks / Svix: `whsec_` + base64, decoded.
    /// assert!(Secret::parse(KeyFormat::Whsec, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    /// assert!(Secret::parse(KeyFormat::Whsec, "whsec_!!not base64!!").is_err());
    /// assert!(Secret::parse(KeyFormat::Raw, "").is_err());
    /// ```
    pub fn parse(format: KeyFormat, text: &str) -> Result<Self, ConfigError> {
        match Key::parse(format, text)? {
            Key::Secret(secret) => Ok(secret),
            Key::Public(_) => Err(invalid("a public key, not a shared secret")),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A provider's public key, which verifies its signatures (Ed25519, ECDSA P-256 or RSA).
///
/// Not secret, but printed as redacted all the same (`PublicKey(ed25519, [redacted])`), like
/// secrets, so configuration dumps stay uniform.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(pub(crate) PublicKeyInner);

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum PublicKeyInner {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    // Shared: a key fetched at run time is lent to every request it verifies.
    Rsa(Arc<rsa::PublicKey>),
}

/// The largest key document this crate parses (a PEM certificate, a JWK): 64 KiB.
pub(crate) const MAX_KEY_DOCUMENT: usize = 64 * 1024;

/// What an X.509 certificate says that a verifier uses.
pub(crate) struct CertificateKey {
    pub(crate) key: PublicKey,
    /// Validity, in Unix seconds.
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    /// The subject's first common name, if it has one.
    pub(crate) common_name: Option<String>,
}

/// Parses an X.509 certificate in PEM (the first `CERTIFICATE` block; any that follow, a chain,
/// are ignored) or DER, keeping its RSA or P-256 public key, validity and subject common name.
/// The certificate's own signature is not checked: trust comes from where it was fetched.
pub(crate) fn parse_certificate(bytes: &[u8]) -> Result<CertificateKey, &'static str> {
    use x509_cert::der::{Decode as _, DecodePem as _, Encode as _};
    if bytes.len() > MAX_KEY_DOCUMENT {
        return Err("a certificate larger than 64 KiB");
    }
    // Only PEM is text around which whitespace may be dropped: DER is read as it is (its last
    // byte, the certificate's signature's, may be any byte, whitespace included).
    let trimmed = bytes.trim_ascii();
    let cert = if trimmed.starts_with(b"-----BEGIN") {
        // Only the first block: `from_pem` refuses trailing data.
        let end = b"-----END CERTIFICATE-----";
        let first = trimmed
            .windows(end.len())
            .position(|w| w == end)
            .map(|i| &trimmed[..i + end.len()])
            .ok_or("not a PEM certificate")?;
        x509_cert::Certificate::from_pem(first).map_err(|_| "not a PEM X.509 certificate")?
    } else {
        x509_cert::Certificate::from_der(bytes).map_err(|_| "not an X.509 certificate")?
    };
    let tbs = cert.tbs_certificate();
    let spki = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(|_| "an unreadable certificate key")?;
    let key = PublicKey::from_spki_der(&spki)
        .map_err(|_| "a certificate whose key is neither RSA (1024 to 8192 bits) nor P-256")?;
    let seconds = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs());
    let validity = tbs.validity();
    let not_before = seconds(validity.not_before).map_err(|_| "an unreadable validity")?;
    let not_after = seconds(validity.not_after).map_err(|_| "an unreadable validity")?;
    let common_name = tbs
        .subject()
        .common_name()
        .ok()
        .flatten()
        .map(|cn| cn.value().into_owned());
    Ok(CertificateKey {
        key,
        not_before,
        not_after,
        common_name,
    })
}

/// What a JSON Web Key says that a verifier uses.
pub(crate) struct JwkKey {
    pub(crate) key: PublicKey,
    pub(crate) kid: Option<String>,
    /// Plaid's `expired_at` (Unix seconds), set once the key was rotated out.
    pub(crate) expired_at: Option<i64>,
}

/// Parses an EC P-256 JSON Web Key (RFC 7517, `kty` `EC`, `crv` `P-256`, `x` and `y` in
/// unpadded base64url); an `alg` other than `ES256` or a `use` other than `sig` is refused.
pub(crate) fn parse_jwk(json: &[u8]) -> Result<JwkKey, &'static str> {
    #[derive(serde::Deserialize)]
    struct Jwk<'a> {
        #[serde(borrow)]
        kty: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        crv: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        alg: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, rename = "use")]
        use_: Option<std::borrow::Cow<'a, str>>,
        kid: Option<String>,
        #[serde(borrow)]
        x: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        y: Option<std::borrow::Cow<'a, str>>,
        expired_at: Option<i64>,
    }
    if json.len() > MAX_KEY_DOCUMENT {
        return Err("a JWK larger than 64 KiB");
    }
    let jwk: Jwk<'_> = serde_json::from_slice(json).map_err(|_| "not a JSON Web Key")?;
    if jwk.kty != "EC" || jwk.crv.as_deref() != Some("P-256") {
        return Err("a JWK that is not an EC P-256 key");
    }
    if jwk.alg.as_deref().is_some_and(|alg| alg != "ES256") {
        return Err("a JWK for another algorithm than ES256");
    }
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err("a JWK not meant for signatures");
    }
    let coordinate = |c: Option<std::borrow::Cow<'_, str>>| {
        let c = c.ok_or("a JWK without its `x` and `y` coordinates")?;
        let mut out = [0u8; 32];
        match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode_slice(c.as_bytes(), &mut out)
        {
            Ok(32) => Ok(out),
            _ => Err("a JWK coordinate that is not 32 bytes of base64url"),
        }
    };
    let mut sec1 = [4u8; 65];
    sec1[1..33].copy_from_slice(&coordinate(jwk.x)?);
    sec1[33..].copy_from_slice(&coordinate(jwk.y)?);
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
        .map_err(|_| "a JWK whose point is not on P-256")?;
    Ok(JwkKey {
        key: PublicKey(PublicKeyInner::P256(key)),
        kid: jwk.kid,
        expired_at: jwk.expired_at,
    })
}

impl PublicKey {
    /// An Ed25519 public key from its 32 bytes. Refuses encodings that are not a curve point and
    /// weak (small-order) keys, under which forgeries are trivial.
    pub fn ed25519(bytes: &[u8]) -> Result<Self, ConfigError> {
        let bytes: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| invalid("an Ed25519 public key is 32 bytes"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| invalid("not an Ed25519 public key"))?;
        if key.is_weak() {
            return Err(invalid("a weak (small-order) Ed25519 public key"));
        }
        Ok(Self(PublicKeyInner::Ed25519(key)))
    }

    /// An ECDSA P-256 public key from its DER `SubjectPublicKeyInfo`, or SEC1 point bytes.
    pub fn p256(der_or_sec1: &[u8]) -> Result<Self, ConfigError> {
        use p256::pkcs8::DecodePublicKey as _;
        p256::ecdsa::VerifyingKey::from_public_key_der(der_or_sec1)
            .or_else(|_| p256::ecdsa::VerifyingKey::from_sec1_bytes(der_or_sec1))
            .map(|k| Self(PublicKeyInner::P256(k)))
            .map_err(|_| invalid("not a P-256 public key (DER SubjectPublicKeyInfo or SEC1)"))
    }

    /// An RSA (1024 to 8192 bits) or ECDSA P-256 public key from its DER
    /// `SubjectPublicKeyInfo`.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, ConfigError> {
        use rsa::pkcs8::DecodePublicKey as _;
        if let Ok(rsa) = rsa::PublicKey::from_public_key_der(der) {
            return Ok(Self(PublicKeyInner::Rsa(Arc::new(rsa))));
        }
        Self::p256(der).map_err(|_| invalid("neither an RSA nor a P-256 public key"))
    }

    /// The key of an X.509 certificate, in PEM or DER (an RSA or P-256 key; in PEM, the first
    /// certificate). The certificate's signature and validity are not checked: pin only a
    /// certificate you fetched from the provider yourself.
    pub fn from_certificate(pem_or_der: &[u8]) -> Result<Self, ConfigError> {
        parse_certificate(pem_or_der)
            .map(|c| c.key)
            .map_err(invalid)
    }

    /// An ECDSA P-256 key from a JSON Web Key (`kty` `EC`, `crv` `P-256`), as Plaid serves
    /// them.
    pub fn from_jwk(json: &str) -> Result<Self, ConfigError> {
        parse_jwk(json.as_bytes()).map(|j| j.key).map_err(invalid)
    }

    /// The algorithm this key verifies. An RSA key also verifies [`RsaSha1`](crate::Algorithm::RsaSha1)
    /// signatures and a P-256 key [`Es256`](crate::Algorithm::Es256) ones.
    pub fn algorithm(&self) -> crate::Algorithm {
        match self.0 {
            PublicKeyInner::Ed25519(_) => crate::Algorithm::Ed25519,
            PublicKeyInner::P256(_) => crate::Algorithm::EcdsaP256Sha256,
            PublicKeyInner::Rsa(_) => crate::Algorithm::RsaSha256,
        }
    }

    /// Whether this key verifies any of `algorithms`.
    pub(crate) fn fits(&self, algorithms: &[crate::Algorithm]) -> bool {
        use crate::Algorithm as A;
        algorithms.iter().any(|a| {
            matches!(
                (&self.0, a),
                (PublicKeyInner::Ed25519(_), A::Ed25519)
                    | (PublicKeyInner::P256(_), A::EcdsaP256Sha256 | A::Es256)
                    | (PublicKeyInner::Rsa(_), A::RsaSha1 | A::RsaSha256)
            )
        })
    }

    /// Bytes that identify the key (the Ed25519 point, the SEC1 compressed P-256 point, or the
    /// RSA modulus).
    pub(crate) fn identity(&self) -> Vec<u8> {
        match &self.0 {
            PublicKeyInner::Ed25519(k) => k.as_bytes().to_vec(),
            PublicKeyInner::P256(k) => k.to_sec1_bytes().to_vec(),
            PublicKeyInner::Rsa(k) => {
                use rsa::traits::PublicKeyParts as _;
                k.n_bytes().into_vec()
            }
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            PublicKeyInner::Ed25519(_) => "ed25519",
            PublicKeyInner::P256(_) => "p256",
            PublicKeyInner::Rsa(_) => "rsa",
        };
        write!(f, "PublicKey({kind}, [redacted])")
    }
}

/// A verification key: a shared secret or a public key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Key {
    /// A shared secret (HMAC schemes, plain tokens).
    Secret(Secret),
    /// A public key (Ed25519, ECDSA P-256).
    Public(PublicKey),
}

impl From<Secret> for Key {
    fn from(secret: Secret) -> Self {
        Self::Secret(secret)
    }
}

impl From<PublicKey> for Key {
    fn from(key: PublicKey) -> Self {
        Self::Public(key)
    }
}

impl Key {
    /// Parses a key as a provider shows it, according to `format`.
    ///
    /// ```
    /// use webhook_receiver::{Key, KeyFormat};
    ///
    /// // A Standard Webhooks keyring may hold `whsec_` secrets and `whpk_` public keys.
    /// assert!(matches!(Key::parse(KeyFormat::Whsec, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?, Key::Secret(_)));
    /// assert!(matches!(
    ///     Key::parse(KeyFormat::Whsec, "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=")?,
    ///     Key::Public(_)
    /// ));
    /// # Ok::<(), webhook_receiver::ConfigError>(())
    /// ```
    pub fn parse(format: KeyFormat, text: &str) -> Result<Self, ConfigError> {
        let secret = |bytes: Vec<u8>| Secret::from_bytes(bytes).map(Key::Secret);
        let trimmed = text.trim();
        // A raw secret is used as written, but one of only whitespace (an empty line from an
        // environment variable or a file) is as good as none: anyone could sign with it.
        let raw = if trimmed.is_empty() { trimmed } else { text };
        match format {
            KeyFormat::Raw => secret(raw.as_bytes().to_vec()),
            KeyFormat::Base64 => secret(decode_base64(trimmed).ok_or(invalid("not valid base64"))?),
            KeyFormat::Hex => secret(hex::decode(trimmed).map_err(|_| invalid("not valid hex"))?),
            KeyFormat::Whsec => {
                if let Some(public) = trimmed.strip_prefix("whpk_") {
                    let bytes = decode_base64(public)
                        .ok_or(invalid("not valid base64 after the `whpk_` prefix"))?;
                    return PublicKey::ed25519(&bytes).map(Key::Public);
                }
                let encoded = trimmed.strip_prefix("whsec_").unwrap_or(trimmed);
                secret(
                    decode_base64(encoded)
                        .ok_or(invalid("not valid base64 after the `whsec_` prefix"))?,
                )
            }
            KeyFormat::WhsecOrRaw => match trimmed.strip_prefix("whsec_") {
                Some(encoded) => secret(
                    decode_base64(encoded)
                        .ok_or(invalid("not valid base64 after the `whsec_` prefix"))?,
                ),
                None => secret(raw.as_bytes().to_vec()),
            },
            KeyFormat::Ed25519Hex => {
                let bytes = hex::decode(trimmed).map_err(|_| invalid("not valid hex"))?;
                PublicKey::ed25519(&bytes).map(Key::Public)
            }
            KeyFormat::Ed25519Base64 => {
                let bytes = decode_base64(trimmed).ok_or(invalid("not valid base64"))?;
                PublicKey::ed25519(&bytes).map(Key::Public)
            }
            KeyFormat::P256 => {
                if trimmed.starts_with("-----BEGIN") {
                    use p256::pkcs8::DecodePublicKey as _;
                    return p256::ecdsa::VerifyingKey::from_public_key_pem(trimmed)
                        .map(|k| Key::Public(PublicKey(PublicKeyInner::P256(k))))
                        .map_err(|_| invalid("not a PEM P-256 public key"));
                }
                let compact: String = trimmed.split_ascii_whitespace().collect();
                let bytes = decode_base64(&compact).ok_or(invalid("not valid base64"))?;
                PublicKey::p256(&bytes).map(Key::Public)
            }
            KeyFormat::Certificate => {
                PublicKey::from_certificate(trimmed.as_bytes()).map(Key::Public)
            }
            KeyFormat::Jwk => PublicKey::from_jwk(trimmed).map(Key::Public),
        }
    }

    /// Bytes that identify this key, for the default dedup namespace: never the secret itself.
    pub(crate) fn fingerprint(&self) -> [u8; 8] {
        use hmac::{Hmac, KeyInit, Mac};
        use sha2::Digest;
        let digest: [u8; 32] = match self {
            // A keyed digest: one HMAC per guess, the same as a captured signed request gives.
            Key::Secret(s) => {
                let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(s.as_bytes())
                    .expect("HMAC takes keys of any length");
                mac.update(b"webhook-receiver namespace v1");
                mac.finalize().into_bytes().into()
            }
            Key::Public(p) => {
                let mut h = sha2::Sha256::new();
                h.update(b"webhook-receiver namespace v1");
                h.update(p.identity());
                h.finalize().into()
            }
        };
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        out
    }
}

fn invalid(reason: &'static str) -> ConfigError {
    ConfigError::InvalidSecret {
        label: None,
        reason,
    }
}

/// Decodes standard-alphabet base64, padded or not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    BASE64_LENIENT.decode(text).ok()
}

/// How a provider shows its key, and so how to turn that text into key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyFormat {
    /// The UTF-8 bytes of the text, used verbatim (GitHub, Slack, Shopify, **Stripe** — whose
    /// `whsec_…` secret is *not* decoded).
    Raw,
    /// Standard Webhooks / Svix: `whsec_` followed by base64; the prefix is optional and the
    /// remainder is base64-decoded (padded or unpadded). A `whpk_` + base64 value is an Ed25519
    /// public key (Standard Webhooks `v1a`).
    Whsec,
    /// `whsec_` + base64, decoded; without the prefix the text is used verbatim (OpenAI).
    WhsecOrRaw,
    /// Standard-alphabet base64 (padded or unpadded), decoded.
    Base64,
    /// Hexadecimal, decoded.
    Hex,
    /// An Ed25519 public key as 64 hex characters (Discord).
    Ed25519Hex,
    /// An Ed25519 public key as base64 of its 32 bytes (Telnyx).
    Ed25519Base64,
    /// An ECDSA P-256 public key: base64 of the DER `SubjectPublicKeyInfo` (SendGrid shows it so),
    /// or PEM.
    P256,
    /// An X.509 certificate in PEM: its RSA or P-256 key, pinned (AWS SNS, PayPal). Its
    /// signature and validity are not checked.
    Certificate,
    /// A JSON Web Key (`kty` `EC`, `crv` `P-256`), pinned (Plaid).
    Jwk,
}

/// Former name of [`KeyFormat`].
pub type SecretFormat = KeyFormat;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_der_certificate_ending_in_a_whitespace_byte_parses() {
        let pem = include_str!("../tests/fixtures/keys/sns-a.cert.pem");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let mut der = decode_base64(&body).expect("the fixture is base64");
        assert!(parse_certificate(&der).is_ok());
        // The last byte is the signature's, which is not checked here: any value keeps the
        // DER well-formed, as it is for a real certificate whose signature ends so.
        for last in [b' ', b'\n', b'\t', b'\r'] {
            *der.last_mut().expect("not empty") = last;
            assert!(parse_certificate(&der).is_ok(), "last byte {last:#04x}");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret::parse(KeyFormat::Raw, "hunter2-very-secret").unwrap();
        let shown = format!("{s:?} {s:#?} {:?}", Key::Secret(s.clone()));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"));
        let pk = Key::parse(
            KeyFormat::Whsec,
            "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=",
        )
        .unwrap();
        assert_eq!(format!("{pk:?}"), "Public(PublicKey(ed25519, [redacted]))");
    }

    #[test]
    fn whsec_prefix_is_optional_and_padding_lenient() {
        let a = Secret::parse(KeyFormat::Whsec, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let b = Secret::parse(KeyFormat::Whsec, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(a.as_bytes(), b.as_bytes());
        assert_eq!(a.as_bytes().len(), 24);
        // 2 bytes -> "AAE=" padded, "AAE" unpadded.
        let p = Secret::parse(KeyFormat::Whsec, "whsec_AAE=").unwrap();
        let u = Secret::parse(KeyFormat::Whsec, "whsec_AAE").unwrap();
        assert_eq!(p.as_bytes(), u.as_bytes());
    }

    #[test]
    fn whsec_or_raw_decodes_only_with_the_prefix() {
        let raw = Secret::parse(KeyFormat::WhsecOrRaw, "plain-secret").unwrap();
        assert_eq!(raw.as_bytes(), b"plain-secret");
        let decoded = Secret::parse(KeyFormat::WhsecOrRaw, "whsec_AAE=").unwrap();
        assert_eq!(decoded.as_bytes(), [0, 1]);
    }

    #[test]
    fn empty_and_garbage_are_config_errors() {
        assert!(matches!(
            Secret::parse(KeyFormat::Raw, ""),
            Err(ConfigError::EmptySecret { .. })
        ));
        assert!(matches!(
            Secret::parse(KeyFormat::Whsec, "whsec_"),
            Err(ConfigError::EmptySecret { .. })
        ));
        let err = Secret::parse(KeyFormat::Whsec, "whsec_s3cr3t!!value").unwrap_err();
        assert!(matches!(err, ConfigError::InvalidSecret { .. }));
        assert!(!err.to_string().contains("s3cr3t"));
        assert!(Secret::parse(KeyFormat::Hex, "zz").is_err());
        assert!(Secret::from_bytes(Vec::new()).is_err());
        for (format, text) in [
            (KeyFormat::Ed25519Hex, "00"),
            (KeyFormat::Ed25519Hex, &"0".repeat(64)), // the identity point: weak
            (KeyFormat::Ed25519Base64, "!!"),
            (KeyFormat::P256, "AAAA"),
            (
                KeyFormat::P256,
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            ),
            (KeyFormat::Whsec, "whpk_AAAA"),
        ] {
            assert!(
                matches!(
                    Key::parse(format, text),
                    Err(ConfigError::InvalidSecret { .. })
                ),
                "{format:?} {text:?}"
            );
        }
        assert!(
            Secret::parse(
                KeyFormat::Whsec,
                "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
            )
            .is_err()
        );
    }

    #[test]
    fn stripe_style_secret_is_raw() {
        let s = Secret::parse(KeyFormat::Raw, "whsec_test_secret").unwrap();
        assert_eq!(s.as_bytes(), b"whsec_test_secret");
    }

    #[test]
    fn fingerprints_separate_keys_and_hide_them() {
        let a = Key::parse(KeyFormat::Raw, "secret-a")
            .unwrap()
            .fingerprint();
        let b = Key::parse(KeyFormat::Raw, "secret-b")
            .unwrap()
            .fingerprint();
        assert_ne!(a, b);
        assert_eq!(
            a,
            Key::parse(KeyFormat::Raw, "secret-a")
                .unwrap()
                .fingerprint()
        );
    }
}
