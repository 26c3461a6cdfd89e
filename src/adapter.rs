//! What the axum and actix-web adapters share: the rejection type, the HTTP mapping details, the
//! completion step, and tracing (feature `tracing`).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::dedup::DedupStore;
use crate::error::VerifyError;
use crate::{Delivery, ReceiveError, Receiver, Verified};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Response to a duplicate that was already processed: the sender may stop retrying.
pub(crate) const DUPLICATE: (StatusCode, &str) = (StatusCode::OK, "already processed");
/// Body of the 409 answered while another attempt holds the lease.
pub(crate) const IN_FLIGHT_BODY: &str = "delivery in progress, retry later";

/// Why an adapter refused a request before the handler ran.
///
/// [`status`](Rejection::status) follows DESIGN §3; the public message says little, the
/// `Display` form (for logs) says why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Verification or the store failed (400, 401, 413 or 503).
    #[error(transparent)]
    Receive(#[from] ReceiveError),
    /// The body could not be read (the client went away, or sent a broken body): 400.
    #[error("reading the request body failed: {0}")]
    BodyRead(#[source] BoxError),
}

impl Rejection {
    pub(crate) fn body_too_large(limit: usize) -> Self {
        Self::Receive(ReceiveError::Verify(VerifyError::BodyTooLarge { limit }))
    }

    /// The HTTP status: 400 malformed or missing headers and unreadable bodies, 401 bad
    /// signatures and stale or future timestamps, 413 bodies over the limit, 503 store failures.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Receive(e) => e.status(),
            Self::BodyRead(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The `Retry-After` to send (store failures).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Receive(e) => e.retry_after(),
            Self::BodyRead(_) => None,
        }
    }

    /// A short body that does not help an attacker: the status's meaning only.
    pub fn public_message(&self) -> &'static str {
        match self.status() {
            StatusCode::UNAUTHORIZED => "invalid webhook signature",
            StatusCode::PAYLOAD_TOO_LARGE => "payload too large",
            StatusCode::SERVICE_UNAVAILABLE => "temporarily unavailable, retry later",
            _ => "bad webhook request",
        }
    }
}

/// What both adapters hold: the receiver, and an optional responder for rejections that builds
/// the framework's response type `R`.
pub(crate) struct Config<St, R> {
    pub(crate) receiver: Receiver<St>,
    on_rejection: Option<Responder<R>>,
}

/// A custom rejection responder.
type Responder<R> = Arc<dyn Fn(&Rejection) -> R + Send + Sync>;

impl<St, R> Clone for Config<St, R> {
    fn clone(&self) -> Self {
        Self {
            receiver: self.receiver.clone(),
            on_rejection: self.on_rejection.clone(),
        }
    }
}

impl<St, R> Config<St, R> {
    pub(crate) fn new(receiver: Receiver<St>) -> Self {
        Self {
            receiver,
            on_rejection: None,
        }
    }

    pub(crate) fn set_on_rejection(&mut self, f: impl Fn(&Rejection) -> R + Send + Sync + 'static) {
        self.on_rejection = Some(Arc::new(f));
    }

    /// Logs the rejection, then renders it with the custom responder, or `default`.
    pub(crate) fn reject(&self, rejection: Rejection, default: impl FnOnce(&Rejection) -> R) -> R {
        log_rejection(&rejection);
        match &self.on_rejection {
            Some(f) => f(&rejection),
            None => default(&rejection),
        }
    }

    /// `Debug` for the adapter type named `name`.
    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result
    where
        St: fmt::Debug,
    {
        f.debug_struct(name)
            .field("receiver", &self.receiver)
            .field("custom_rejection", &self.on_rejection.is_some())
            .finish()
    }
}

#[cfg(feature = "tracing")]
/// Displays an error with its sources (`dedup store unavailable: connection refused`), so
/// logs keep the cause that `Display` alone would drop.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

#[cfg(feature = "tracing")]
impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

/// Whole seconds, rounded up, at least 1.
pub(crate) fn retry_after_value(after: Duration) -> HeaderValue {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    HeaderValue::from(secs.max(1))
}

/// Whether a declared `Content-Length` is over `limit` (refuse before reading anything).
pub(crate) fn content_length_exceeds(headers: &HeaderMap, limit: usize) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|len| len > limit as u64)
}

/// Holds a delivery while the handler runs. If the handler never finishes (its future is
/// dropped, or it panics) the guard releases the claim on a spawned task, so the sender's retry is
/// processed at once instead of after the lease.
pub(crate) struct ReleaseOnDrop<St: DedupStore> {
    delivery: Option<Delivery<St>>,
}

impl<St: DedupStore> ReleaseOnDrop<St> {
    pub(crate) fn new(delivery: Delivery<St>) -> Self {
        Self {
            delivery: Some(delivery),
        }
    }

    /// The delivery, disarming the guard.
    pub(crate) fn into_inner(mut self) -> Delivery<St> {
        self.delivery
            .take()
            .expect("the delivery is only taken here, once")
    }
}

impl<St: DedupStore> Drop for ReleaseOnDrop<St> {
    fn drop(&mut self) {
        if let Some(delivery) = self.delivery.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(_e) = delivery.release().await {
                    log_warn!(error = %Chain(&_e), "releasing an abandoned delivery failed; its lease will expire");
                }
            });
        }
    }
}

/// Completes the claim after a 2xx, releases it otherwise; store failures are logged (after a
/// 2xx the lease expires and a retry would run the handler again; after a failure the retry
/// waits for the lease).
pub(crate) async fn finish<St: DedupStore>(delivery: Delivery<St>, success: bool) {
    if success {
        record_outcome("completed");
        match delivery.complete().await {
            Ok(true) => {}
            Ok(false) => log_warn!(
                "the lease expired before the handler finished; another attempt may run it again"
            ),
            Err(_e) => {
                log_warn!(error = %Chain(&_e), "completing the delivery failed; a retry may run the handler again")
            }
        }
    } else {
        record_outcome("released");
        if let Err(_e) = delivery.release().await {
            log_warn!(error = %Chain(&_e), "releasing the delivery failed; its retry waits for the lease");
        }
    }
}

fn log_rejection(_rejection: &Rejection) {
    record_outcome("rejected");
    log_warn!(status = _rejection.status().as_u16(), reason = %Chain(_rejection), "webhook rejected");
}

#[cfg(feature = "tracing")]
macro_rules! log_warn {
    ($($t:tt)*) => { ::tracing::warn!($($t)*) };
}
#[cfg(not(feature = "tracing"))]
macro_rules! log_warn {
    ($($t:tt)*) => {{}};
}
pub(crate) use log_warn;

#[cfg(feature = "tracing")]
pub(crate) type Span = tracing::Span;
/// Stands in for a span when tracing is off.
#[cfg(not(feature = "tracing"))]
#[derive(Clone, Copy)]
pub(crate) struct Span;

/// One span per delivery: provider, event id and outcome — never secrets, never the body.
#[cfg(feature = "tracing")]
pub(crate) fn delivery_span(provider: &str) -> Span {
    tracing::info_span!(
        "webhook",
        provider = provider,
        event_id = tracing::field::Empty,
        outcome = tracing::field::Empty,
    )
}
#[cfg(not(feature = "tracing"))]
pub(crate) fn delivery_span(_provider: &str) -> Span {
    Span
}

#[cfg(feature = "tracing")]
pub(crate) fn instrument<F: Future>(fut: F, span: Span) -> impl Future<Output = F::Output> {
    tracing::Instrument::instrument(fut, span)
}
#[cfg(not(feature = "tracing"))]
pub(crate) fn instrument<F: Future>(fut: F, _span: Span) -> impl Future<Output = F::Output> {
    fut
}

/// Records the event id and the dedup outcome on the current delivery span.
pub(crate) fn record(_verified: &Verified<'_>, _outcome: &'static str) {
    #[cfg(feature = "tracing")]
    {
        let span = tracing::Span::current();
        if let Some(id) = _verified.event_id() {
            span.record("event_id", &*id);
        }
        span.record("outcome", _outcome);
        tracing::debug!(key_label = _verified.key_label(), "webhook verified");
    }
}

fn record_outcome(_outcome: &'static str) {
    #[cfg(feature = "tracing")]
    tracing::Span::current().record("outcome", _outcome);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::StoreError;

    #[test]
    #[cfg(feature = "tracing")]
    fn chain_keeps_the_cause() {
        let e = Rejection::Receive(ReceiveError::Store(StoreError::unavailable(
            "connection refused",
        )));
        assert_eq!(
            Chain(&e).to_string(),
            "dedup store unavailable: connection refused"
        );
    }
}
