//! Secrets: a redacting, zeroizing newtype and the formats providers show them in.

use std::fmt;

use base64::Engine as _;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::ConfigError;

/// A shared signing secret.
///
/// The bytes are zeroized when the value is dropped. `Debug` prints `Secret([redacted])`; there is
/// no `Display` and no accessor outside this crate, so a secret cannot end up in a log line, an
/// error message or a panic by accident.
///
/// Most users never build one: [`VerifierBuilder::secret`](crate::VerifierBuilder::secret) takes
/// the secret as the provider shows it and parses it with the scheme's [`SecretFormat`].
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

    /// Parses a secret as a provider shows it, according to `format`.
    ///
    /// ```
    /// use webhook_receiver::{Secret, SecretFormat};
    ///
    /// // Standard Webhooks / Svix: `whsec_` + base64, decoded.
    /// assert!(Secret::parse(SecretFormat::Whsec, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    /// assert!(Secret::parse(SecretFormat::Whsec, "whsec_!!not base64!!").is_err());
    /// assert!(Secret::parse(SecretFormat::Raw, "").is_err());
    /// ```
    pub fn parse(format: SecretFormat, text: &str) -> Result<Self, ConfigError> {
        let invalid = |reason| ConfigError::InvalidSecret {
            label: None,
            reason,
        };
        let bytes = match format {
            SecretFormat::Raw => text.as_bytes().to_vec(),
            SecretFormat::Base64 => {
                decode_base64(text.trim()).ok_or(invalid("not valid base64"))?
            }
            SecretFormat::Whsec => {
                let text = text.trim();
                let text = text.strip_prefix("whsec_").unwrap_or(text);
                decode_base64(text).ok_or(invalid("not valid base64 after the `whsec_` prefix"))?
            }
            SecretFormat::Hex => hex::decode(text.trim()).map_err(|_| invalid("not valid hex"))?,
        };
        if bytes.is_empty() {
            return Err(ConfigError::EmptySecret { label: None });
        }
        Ok(Self(bytes))
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

/// Decodes standard-alphabet base64, padded or not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    crate::encoding::BASE64_LENIENT.decode(text).ok()
}

/// How a provider shows its secret, and so how to turn that text into key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SecretFormat {
    /// The UTF-8 bytes of the text, used verbatim (GitHub, Slack, Shopify, **Stripe** — whose
    /// `whsec_…` secret is *not* decoded).
    Raw,
    /// Standard Webhooks / Svix: `whsec_` followed by base64; the prefix is optional and the
    /// remainder is base64-decoded (padded or unpadded).
    Whsec,
    /// Standard-alphabet base64 (padded or unpadded), decoded.
    Base64,
    /// Hexadecimal, decoded.
    Hex,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::parse(SecretFormat::Raw, "hunter2-very-secret").unwrap();
        let shown = format!("{s:?} {s:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn whsec_prefix_is_optional_and_padding_lenient() {
        let a = Secret::parse(
            SecretFormat::Whsec,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .unwrap();
        let b = Secret::parse(SecretFormat::Whsec, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(a.as_bytes(), b.as_bytes());
        assert_eq!(a.as_bytes().len(), 24);
        // 2 bytes -> "AAE=" padded, "AAE" unpadded.
        let p = Secret::parse(SecretFormat::Whsec, "whsec_AAE=").unwrap();
        let u = Secret::parse(SecretFormat::Whsec, "whsec_AAE").unwrap();
        assert_eq!(p.as_bytes(), u.as_bytes());
    }

    #[test]
    fn empty_and_garbage_are_config_errors() {
        assert!(matches!(
            Secret::parse(SecretFormat::Raw, ""),
            Err(ConfigError::EmptySecret { .. })
        ));
        assert!(matches!(
            Secret::parse(SecretFormat::Whsec, "whsec_"),
            Err(ConfigError::EmptySecret { .. })
        ));
        let err = Secret::parse(SecretFormat::Whsec, "whsec_s3cr3t!!value").unwrap_err();
        assert!(matches!(err, ConfigError::InvalidSecret { .. }));
        assert!(!err.to_string().contains("s3cr3t"));
        assert!(Secret::parse(SecretFormat::Hex, "zz").is_err());
        assert!(Secret::from_bytes(Vec::new()).is_err());
    }

    #[test]
    fn stripe_style_secret_is_raw() {
        let s = Secret::parse(SecretFormat::Raw, "whsec_test_secret").unwrap();
        assert_eq!(s.as_bytes(), b"whsec_test_secret");
    }
}
