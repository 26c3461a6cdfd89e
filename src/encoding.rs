//! Signature algorithms and encodings, and the pre-keyed MAC state.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;

/// Standard-alphabet base64 that decodes padded and unpadded input and encodes padded.
pub(crate) const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How a signature is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA256: most providers.
    HmacSha256,
    /// HMAC-SHA512.
    HmacSha512,
    /// HMAC-SHA1: legacy and a few providers (Twilio, Intercom, GitHub's `X-Hub-Signature`).
    HmacSha1,
    /// Ed25519 over the signed content (Standard Webhooks `v1a`, Discord), verified with the
    /// provider's public key.
    Ed25519,
    /// ECDSA over P-256 with SHA-256, DER-encoded signature (SendGrid), verified with the
    /// provider's public key.
    EcdsaP256Sha256,
    /// A plain shared token sent as is (GitLab's `X-Gitlab-Token`), compared in constant time.
    /// It authenticates the sender, not the body.
    Token,
    /// RSASSA-PKCS1-v1_5 with SHA-1 (AWS SNS `SignatureVersion` 1), verified with the key of the
    /// provider's X.509 certificate.
    RsaSha1,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (AWS SNS `SignatureVersion` 2, PayPal `SHA256withRSA`),
    /// verified with the key of the provider's X.509 certificate.
    RsaSha256,
    /// ECDSA over P-256 with SHA-256, the signature as the 64 bytes `r ‖ s` (JWS `ES256`, as
    /// Plaid signs its JWTs), verified with the provider's public key.
    Es256,
}

impl Algorithm {
    /// Whether this is an HMAC (a shared secret signs and verifies).
    pub const fn is_hmac(self) -> bool {
        matches!(self, Self::HmacSha256 | Self::HmacSha512 | Self::HmacSha1)
    }

    /// Whether this is a public-key signature (a public key verifies).
    pub const fn is_public_key(self) -> bool {
        matches!(
            self,
            Self::Ed25519 | Self::EcdsaP256Sha256 | Self::RsaSha1 | Self::RsaSha256 | Self::Es256
        )
    }

    /// Whether this is an RSA signature, whose length is the key's (up to [`MAX_RSA_SIG`]
    /// bytes): such candidates are decoded when checked, not with the short signatures.
    pub(crate) const fn is_rsa(self) -> bool {
        matches!(self, Self::RsaSha1 | Self::RsaSha256)
    }

    /// Whether a decoded signature of `len` bytes can be one of this algorithm's.
    pub(crate) const fn accepts_len(self, len: usize) -> bool {
        match self {
            Self::HmacSha256 => len == 32,
            Self::HmacSha512 => len == 64,
            Self::HmacSha1 => len == 20,
            Self::Ed25519 => len == 64,
            // A DER `SEQUENCE { INTEGER r, INTEGER s }` for P-256 is 8 to 72 bytes.
            Self::EcdsaP256Sha256 => len >= 8 && len <= MAX_SIG,
            Self::Es256 => len == 64,
            // 1024- to 8192-bit moduli.
            Self::RsaSha1 | Self::RsaSha256 => len >= 128 && len <= MAX_RSA_SIG,
            Self::Token => true,
        }
    }
}

/// How a signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Encoding {
    /// Hexadecimal; upper- and lowercase are both accepted, lowercase is produced.
    Hex,
    /// Standard-alphabet base64; padded and unpadded are both accepted, padded is produced.
    Base64,
    /// URL-safe base64 without padding (JWS signatures); padded input is refused, as RFC 7515
    /// requires.
    Base64Url,
}

impl Encoding {
    /// `bytes` in this encoding.
    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Self::Hex => hex::encode(bytes),
            Self::Base64 => BASE64_LENIENT.encode(bytes),
            Self::Base64Url => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        }
    }
}

/// Longest decoded signature: a DER ECDSA P-256 signature (72 bytes); HMAC-SHA512 and Ed25519
/// are 64. RSA signatures are longer and decoded apart ([`MAX_RSA_SIG`]).
pub(crate) const MAX_SIG: usize = 72;

/// Longest RSA signature: that of an 8192-bit key.
pub(crate) const MAX_RSA_SIG: usize = 1024;

/// Decodes `text` in `encoding` into `out`; the decoded length, if `text` is valid and no longer
/// than [`MAX_SIG`] bytes.
pub(crate) fn decode_signature(
    text: &str,
    encoding: Encoding,
    out: &mut [u8; MAX_SIG],
) -> Option<usize> {
    decode_into(text, encoding, out)
}

/// Decodes `text` in `encoding` into `out`; the decoded length, if `text` is valid and decodes
/// to no more than `out` holds.
pub(crate) fn decode_into(text: &str, encoding: Encoding, out: &mut [u8]) -> Option<usize> {
    // Base64 encodes 3 bytes in 4 characters: anything longer than this cannot fit in `out`,
    // and anything up to it decodes within `out` (checked again by the decoder).
    let max_base64 = out.len().div_ceil(3) * 4;
    match encoding {
        Encoding::Hex => {
            let len = text.len() / 2;
            (text.len().is_multiple_of(2) && len <= out.len())
                .then(|| hex::decode_to_slice(text, &mut out[..len]).ok())
                .flatten()
                .map(|()| len)
        }
        Encoding::Base64 => (text.len() <= max_base64)
            .then(|| BASE64_LENIENT.decode_slice(text, out).ok())
            .flatten(),
        Encoding::Base64Url => (text.len() <= max_base64)
            .then(|| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode_slice(text, out)
                    .ok()
            })
            .flatten(),
    }
}

/// Longest MAC we produce (SHA-512).
pub(crate) const MAX_TAG: usize = 64;

/// A MAC value on the stack.
#[derive(Clone, Copy)]
pub(crate) struct Tag {
    bytes: [u8; MAX_TAG],
    len: usize,
}

impl Tag {
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Constant-time comparison with a decoded candidate.
    pub(crate) fn ct_eq(&self, other: &[u8]) -> bool {
        // `subtle` returns false at once on a length difference, which is not secret.
        self.as_slice().ct_eq(other).into()
    }
}

/// The HMAC key schedules of one secret, computed once per algorithm the scheme uses; the
/// matching one is cloned per request.
#[derive(Clone, Default)]
pub(crate) struct KeyedMacs {
    sha256: Option<Hmac<sha2::Sha256>>,
    sha512: Option<Hmac<sha2::Sha512>>,
    sha1: Option<Hmac<sha1::Sha1>>,
}

impl KeyedMacs {
    pub(crate) fn new(algorithms: &[Algorithm], key: &[u8]) -> Self {
        let mut macs = Self::default();
        for algorithm in algorithms {
            // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
            match algorithm {
                Algorithm::HmacSha256 => macs.sha256 = KeyInit::new_from_slice(key).ok(),
                Algorithm::HmacSha512 => macs.sha512 = KeyInit::new_from_slice(key).ok(),
                Algorithm::HmacSha1 => macs.sha1 = KeyInit::new_from_slice(key).ok(),
                _ => {}
            }
        }
        macs
    }

    /// The MAC of the pieces `content` feeds, or `None` if this algorithm was not prepared.
    #[inline]
    pub(crate) fn compute(
        &self,
        algorithm: Algorithm,
        content: impl FnOnce(&mut dyn FnMut(&[u8])),
    ) -> Option<Tag> {
        match algorithm {
            Algorithm::HmacSha256 => self.sha256.as_ref().map(|m| run(m, content)),
            Algorithm::HmacSha512 => self.sha512.as_ref().map(|m| run(m, content)),
            Algorithm::HmacSha1 => self.sha1.as_ref().map(|m| run(m, content)),
            _ => None,
        }
    }
}

/// Clones the keyed state, feeds the content, and finalizes into a [`Tag`]; monomorphic, so only
/// the state of the algorithm in use is copied.
#[inline]
fn run<M: Mac + Clone>(keyed: &M, content: impl FnOnce(&mut dyn FnMut(&[u8]))) -> Tag {
    let mut mac = keyed.clone();
    content(&mut |piece| mac.update(piece));
    let out = mac.finalize().into_bytes();
    let mut bytes = [0u8; MAX_TAG];
    bytes[..out.len()].copy_from_slice(&out);
    Tag {
        bytes,
        len: out.len(),
    }
}

/// What kind of mismatch serde found in a JSON body, for error messages that must not quote the
/// body (serde's own message quotes the values it could not use).
#[cfg(any(feature = "inbox", feature = "axum", feature = "actix-web"))]
pub(crate) fn json_mismatch(category: serde_json::error::Category) -> &'static str {
    use serde_json::error::Category;
    match category {
        Category::Syntax => "invalid JSON",
        Category::Data => "a value of the wrong type or shape",
        Category::Eof => "JSON cut short",
        Category::Io => "a read error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_decode_within_bounds() {
        let mut out = [0u8; MAX_SIG];
        assert_eq!(decode_signature("00ff", Encoding::Hex, &mut out), Some(2));
        assert_eq!(decode_signature("00F", Encoding::Hex, &mut out), None);
        assert_eq!(
            decode_signature(&"a".repeat(146), Encoding::Hex, &mut out),
            None
        );
        assert_eq!(
            decode_signature(&"a".repeat(144), Encoding::Hex, &mut out),
            Some(72)
        );
        assert_eq!(
            decode_signature("AAE=", Encoding::Base64, &mut out),
            Some(2)
        );
        assert_eq!(decode_signature("AAE", Encoding::Base64, &mut out), Some(2));
        assert_eq!(decode_signature("!!", Encoding::Base64, &mut out), None);
        assert_eq!(
            decode_signature(&"A".repeat(100), Encoding::Base64, &mut out),
            None
        );
        assert_eq!(
            decode_signature(&"A".repeat(96), Encoding::Base64, &mut out),
            Some(72)
        );
        // URL-safe, unpadded: `-` and `_` decode, padding and the standard alphabet's `+/` not.
        assert_eq!(
            decode_signature("-_8", Encoding::Base64Url, &mut out),
            Some(2)
        );
        assert_eq!(&out[..2], [0xfb, 0xff]);
        assert_eq!(
            decode_signature("-_8=", Encoding::Base64Url, &mut out),
            None
        );
        assert_eq!(decode_signature("+/8", Encoding::Base64Url, &mut out), None);
        let mut rsa = [0u8; MAX_RSA_SIG];
        let longest = format!("{}==", "A".repeat(1366));
        assert_eq!(
            decode_into(&longest, Encoding::Base64, &mut rsa),
            Some(1024)
        );
        assert_eq!(
            decode_into(&"A".repeat(1368), Encoding::Base64, &mut rsa),
            None
        );
    }
}
