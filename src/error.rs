//! Error types. Configuration errors are kept apart from request errors; neither ever carries a
//! secret or an expected signature.

use std::borrow::Cow;

use http::StatusCode;

/// A request failed verification.
///
/// Every variant maps to one HTTP status ([`VerifyError::status`]): the adapters answer with it
/// and log the detailed reason. Messages name headers and limits, never secrets or signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A header the scheme requires is absent.
    #[error("missing header `{name}`")]
    MissingHeader {
        /// The header's name.
        name: Cow<'static, str>,
    },
    /// A header is present but cannot be used as the scheme requires.
    #[error("malformed header `{name}`: {reason}")]
    MalformedHeader {
        /// The header's name.
        name: Cow<'static, str>,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No signature in the request matches any configured secret.
    #[error("signature mismatch")]
    SignatureMismatch,
    /// The signed timestamp is older than the past tolerance allows.
    #[error("timestamp too old: {age_secs} s in the past, tolerance {tolerance_secs} s")]
    TimestampTooOld {
        /// How far in the past the timestamp is, in seconds.
        age_secs: u64,
        /// The configured past tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// The signed timestamp is further in the future than the future tolerance allows.
    #[error("timestamp in the future: {ahead_secs} s ahead, tolerance {tolerance_secs} s")]
    TimestampInFuture {
        /// How far in the future the timestamp is, in seconds.
        ahead_secs: u64,
        /// The configured future tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// The body is larger than the configured limit.
    #[error("body too large: limit is {limit} bytes")]
    BodyTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The body lacks what the scheme reads from it (Mailgun's signature fields, Linear's
    /// timestamp), or it cannot be read as the scheme requires.
    #[error("malformed body: {reason}")]
    MalformedBody {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The scheme signs the URL the sender called, but no public URL was configured: a
    /// configuration mistake on the receiving side, answered 500.
    #[error("the scheme signs the request URL but no public URL is configured")]
    NoPublicUrl,
}

impl VerifyError {
    /// The HTTP status an endpoint should answer with (the status table of the
    /// [crate docs](crate)): 400 for a missing or malformed header or body, 401 for a bad
    /// signature or a timestamp outside the tolerance, 413 for a body over the limit, 500 when
    /// the receiver lacks the public URL its scheme needs. A scheme may answer otherwise
    /// ([`Scheme::reject_status`](crate::Scheme::reject_status)).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingHeader { .. }
            | Self::MalformedHeader { .. }
            | Self::MalformedBody { .. } => StatusCode::BAD_REQUEST,
            Self::NoPublicUrl => StatusCode::INTERNAL_SERVER_ERROR,
            Self::SignatureMismatch
            | Self::TimestampTooOld { .. }
            | Self::TimestampInFuture { .. } => StatusCode::UNAUTHORIZED,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// A [`MissingHeader`](Self::MissingHeader) error for `name`.
    pub fn missing(name: &http::HeaderName) -> Self {
        Self::MissingHeader {
            name: Cow::Owned(name.as_str().to_owned()),
        }
    }

    /// A [`MalformedHeader`](Self::MalformedHeader) error for `name`.
    pub fn malformed(name: &http::HeaderName, reason: &'static str) -> Self {
        Self::MalformedHeader {
            name: Cow::Owned(name.as_str().to_owned()),
            reason,
        }
    }
}

/// A verifier, scheme or receiver was configured wrongly. Raised at construction, never per
/// request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No secret was given.
    #[error("no secret configured")]
    NoSecret,
    /// A secret is empty (or decodes to nothing).
    #[error("secret{} is empty", label_suffix(.label))]
    EmptySecret {
        /// The secret's label, if it has one.
        label: Option<String>,
    },
    /// A secret cannot be decoded in the scheme's format.
    #[error("secret{} is invalid: {reason}", label_suffix(.label))]
    InvalidSecret {
        /// The secret's label, if it has one.
        label: Option<String>,
        /// What is wrong (never the secret itself).
        reason: &'static str,
    },
    /// Any other invalid setting.
    #[error("invalid configuration `{setting}`: {reason}")]
    Invalid {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong.
        reason: Cow<'static, str>,
    },
}

impl ConfigError {
    pub(crate) fn with_label(self, label: Option<&str>) -> Self {
        let label = label.map(str::to_owned);
        match self {
            Self::EmptySecret { .. } => Self::EmptySecret { label },
            Self::InvalidSecret { reason, .. } => Self::InvalidSecret { label, reason },
            other => other,
        }
    }

    pub(crate) fn invalid(setting: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Invalid {
            setting,
            reason: reason.into(),
        }
    }
}

fn label_suffix(label: &Option<String>) -> String {
    label
        .as_deref()
        .map(|l| format!(" `{l}`"))
        .unwrap_or_default()
}
