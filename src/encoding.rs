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

/// The MAC algorithm a scheme signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA256: every modern provider.
    HmacSha256,
    /// HMAC-SHA512.
    HmacSha512,
    /// HMAC-SHA1: legacy only (GitHub's `X-Hub-Signature`, when explicitly enabled).
    HmacSha1,
}

impl Algorithm {
    /// Length of the MAC in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Self::HmacSha256 => 32,
            Self::HmacSha512 => 64,
            Self::HmacSha1 => 20,
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

    /// Decodes `text` in `encoding` into `out`, which has room for [`MAX_TAG`] bytes; `false`
    /// unless it is exactly `len` bytes of valid encoding.
    pub(crate) fn decode_into(
        text: &str,
        encoding: Encoding,
        len: usize,
        out: &mut [u8; MAX_TAG],
    ) -> bool {
        match encoding {
            Encoding::Hex => {
                text.len() == len * 2 && hex::decode_to_slice(text, &mut out[..len]).is_ok()
            }
            // 88 characters encode 64 bytes: anything longer cannot be a MAC, and anything up
            // to that decodes within `out`.
            Encoding::Base64 => {
                text.len() <= 88
                    && BASE64_LENIENT
                        .decode_slice(text, &mut out[..])
                        .is_ok_and(|n| n == len)
            }
        }
    }

    /// The tag in `encoding`.
    pub(crate) fn encode(&self, encoding: Encoding) -> String {
        match encoding {
            Encoding::Hex => hex::encode(self.as_slice()),
            Encoding::Base64 => BASE64_LENIENT.encode(self.as_slice()),
        }
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
