//! Inbox errors: the engine's, and the handler's way to say "retry" or "give up".

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use http::StatusCode;

use crate::dedup::BoxError;

/// `Retry-After` suggested when the inbox is full or its engine is down.
pub const INBOX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// An inbox engine failed.
///
/// [`status`](Self::status) maps it for an HTTP endpoint: 503 + `Retry-After` when the inbox
/// is [`Full`](Self::Full) or its engine [`Unavailable`](Self::Unavailable) — the sender retries
/// later and nothing is acknowledged unstored — and 500 otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InboxError {
    /// The engine cannot be reached or is busy (connection refused, pool exhausted, database
    /// locked, disk full).
    #[error("inbox engine unavailable")]
    Unavailable(#[source] BoxError),
    /// The inbox holds its configured maximum of unfinished records; nothing was stored.
    #[error("inbox full: {limit} unfinished records")]
    Full {
        /// The configured bound.
        limit: u64,
    },
    /// The engine answered with an error or an unexpected reply.
    #[error("inbox engine error")]
    Backend(#[source] BoxError),
    /// A stored record cannot be read back.
    #[error("inbox record `{key}` is corrupt: {reason}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// What is wrong.
        reason: Cow<'static, str>,
    },
}

impl InboxError {
    /// An [`Unavailable`](Self::Unavailable) error.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Self::Unavailable(source.into())
    }

    /// A [`Backend`](Self::Backend) error.
    pub fn backend(source: impl Into<BoxError>) -> Self {
        Self::Backend(source.into())
    }

    /// A [`Corrupt`](Self::Corrupt) error for the record `key`.
    pub fn corrupt(key: &str, reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Corrupt {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    /// Whether retrying later may help (unavailable or full).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Full { .. })
    }

    /// The HTTP status an endpoint should answer: 503 when full or unavailable, else 500.
    pub fn status(&self) -> StatusCode {
        if self.is_transient() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }

    /// The `Retry-After` to send with a 503: [`INBOX_RETRY_AFTER`].
    pub fn retry_after(&self) -> Option<Duration> {
        self.is_transient().then_some(INBOX_RETRY_AFTER)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Retry,
    Permanent,
}

/// Why a handler did not process a record: retry it later, or give up at once.
///
/// Any error converts into a **retryable** one, so `?` works in handlers; say
/// [`HandlerError::permanent`] for errors that no retry can fix (a payload that cannot be
/// parsed, an event for an account that does not exist): the record goes to the dead letters
/// at once, for an operator to inspect and replay.
///
/// The message (`Display` of the error and its sources) is stored as the record's last error
/// and logged: never put secrets or the body in it.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::inbox::{HandlerError, Job};
///
/// async fn handle(job: Job) -> Result<(), HandlerError> {
///     let event: serde_json::Value =
///         serde_json::from_slice(job.body()).map_err(HandlerError::permanent)?;
///     if event["type"] == "rate.limited" {
///         return Err(HandlerError::retry("downstream busy").after(Duration::from_secs(60)));
///     }
///     Ok(())
/// }
/// ```
pub struct HandlerError {
    kind: Kind,
    source: BoxError,
    after: Option<Duration>,
}

impl HandlerError {
    /// A retryable error: the record runs again after the retry policy's backoff, until the
    /// maximum number of attempts.
    pub fn retry(source: impl Into<BoxError>) -> Self {
        Self {
            kind: Kind::Retry,
            source: source.into(),
            after: None,
        }
    }

    /// A permanent error: the record is dead at once.
    pub fn permanent(source: impl Into<BoxError>) -> Self {
        Self {
            kind: Kind::Permanent,
            source: source.into(),
            after: None,
        }
    }

    /// Retry after `delay` instead of the policy's backoff (e.g. a downstream `Retry-After`).
    /// Ignored for permanent errors.
    #[must_use]
    pub fn after(mut self, delay: Duration) -> Self {
        self.after = Some(delay);
        self
    }

    /// Whether the error is permanent.
    pub fn is_permanent(&self) -> bool {
        self.kind == Kind::Permanent
    }

    /// The delay asked for with [`after`](Self::after), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.after
    }

    /// The underlying error.
    pub fn source(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.source
    }

    /// The error and its sources, `: `-separated, at most `max` bytes (cut at a character
    /// boundary, with `…`).
    pub(crate) fn message(&self, max: usize) -> String {
        let mut text = self.source.to_string();
        let mut next = self.source.source();
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        truncate(text, max)
    }
}

pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max.saturating_sub('…'.len_utf8());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

impl<E: Into<BoxError>> From<E> for HandlerError {
    /// Any error is retryable.
    fn from(error: E) -> Self {
        Self::retry(error)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("kind", &self.kind)
            .field("source", &self.source)
            .field("after", &self.after)
            .finish()
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Retry => "retryable",
            Kind::Permanent => "permanent",
        };
        write!(f, "{kind} handler error: {}", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_mark_makes_retryable_errors() {
        fn parse() -> Result<u32, HandlerError> {
            Ok("x".parse::<u32>()?)
        }
        let err = parse().unwrap_err();
        assert!(!err.is_permanent());
        assert!(
            err.message(100).contains("invalid digit"),
            "{}",
            err.message(100)
        );
    }

    #[test]
    fn messages_are_truncated_at_char_boundaries() {
        let err = HandlerError::permanent("é".repeat(100));
        let message = err.message(11);
        assert!(message.len() <= 11, "{message}");
        assert!(message.ends_with('…'));
        assert_eq!(truncate("short".into(), 11), "short");
    }

    #[test]
    fn status_mapping() {
        assert_eq!(
            InboxError::Full { limit: 3 }.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            InboxError::unavailable("down").retry_after(),
            Some(INBOX_RETRY_AFTER)
        );
        let corrupt = InboxError::corrupt("k", "bad");
        assert_eq!(corrupt.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(corrupt.retry_after(), None);
    }
}
