//! What the axum and actix-web adapters share: the rejection and extractor error types, the
//! extractor types, the answers that do not run the handler, claiming a delivery and running it
//! to its end, accepting a delivery into an inbox (feature `inbox`), and tracing (feature
//! `tracing`). Each adapter adds only what its framework needs: reading the body, spawning the
//! task, and the trait impls.

use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::dedup::DedupStore;
use crate::error::VerifyError;
#[cfg(feature = "inbox")]
use crate::inbox::{InboxEndpoint, InboxEngine, InboxError, InboxReceiveError};
use crate::{Delivery, Outcome, PublicUrl, ReceiveError, Receiver, Verified, Verifier};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Body of the 409 answered while another attempt holds the lease.
const IN_FLIGHT_BODY: &str = "delivery in progress, retry later";

/// Why an adapter refused a request before the handler ran, and the status to answer.
///
/// The status follows the status table in the [crate docs](crate), or the scheme's own answer
/// where its provider documents one ([`Scheme::reject_status`](crate::Scheme::reject_status):
/// GoCardless 498, Discord and Xero 401 for every verification failure). The public message
/// says little; the `Display` form (for logs) says why.
#[derive(Debug)]
pub struct Rejection {
    kind: RejectionKind,
    status: StatusCode,
}

/// What went wrong, in a [`Rejection`].
#[derive(Debug)]
#[non_exhaustive]
pub enum RejectionKind {
    /// Verification or the store failed (400, 401, 413 or 503 by default).
    Receive(ReceiveError),
    /// The body could not be read (the client went away, or sent a broken body): 400.
    BodyRead(BoxError),
    /// The inbox could not accept the verified delivery (the inbox routes,
    /// `axum::InboxService` and `actix::InboxHandler`): 503 + `Retry-After` when it is full or
    /// its engine is unavailable, else 500. Nothing was acknowledged.
    #[cfg(feature = "inbox")]
    #[cfg_attr(docsrs, doc(cfg(feature = "inbox")))]
    Inbox(InboxError),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RejectionKind::Receive(e) => fmt::Display::fmt(e, f),
            RejectionKind::BodyRead(_) => f.write_str("reading the request body failed"),
            #[cfg(feature = "inbox")]
            RejectionKind::Inbox(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            RejectionKind::Receive(e) => e.source(),
            RejectionKind::BodyRead(e) => Some(&**e),
            #[cfg(feature = "inbox")]
            RejectionKind::Inbox(e) => e.source(),
        }
    }
}

impl Rejection {
    /// A rejection of `receiver`'s request, answered with the status its scheme chooses.
    pub(crate) fn new<St: DedupStore>(receiver: &Receiver<St>, kind: RejectionKind) -> Self {
        Self::of(receiver.verifier(), kind)
    }

    /// A rejection of a request `verifier` checks, answered with the status its scheme chooses
    /// for verification failures.
    pub(crate) fn of(verifier: &Verifier, kind: RejectionKind) -> Self {
        let status = match &kind {
            RejectionKind::Receive(ReceiveError::Verify(e)) => verifier.scheme().reject_status(e),
            RejectionKind::Receive(e) => e.status(),
            RejectionKind::BodyRead(_) => StatusCode::BAD_REQUEST,
            #[cfg(feature = "inbox")]
            RejectionKind::Inbox(e) => e.status(),
        };
        Self { kind, status }
    }

    pub(crate) fn body_too_large(verifier: &Verifier, limit: usize) -> Self {
        let error = ReceiveError::Verify(VerifyError::BodyTooLarge { limit });
        Self::of(verifier, RejectionKind::Receive(error))
    }

    /// What went wrong.
    pub fn kind(&self) -> &RejectionKind {
        &self.kind
    }

    /// The HTTP status: by default 400 malformed or missing headers and unreadable bodies, 401
    /// bad signatures and stale or future timestamps, 413 bodies over the limit, 503 store
    /// failures and a full or unavailable inbox (500 for other inbox engine errors); or the
    /// scheme's documented answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `Retry-After` to send (store failures, a full or unavailable inbox).
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            RejectionKind::Receive(e) => e.retry_after(),
            RejectionKind::BodyRead(_) => None,
            #[cfg(feature = "inbox")]
            RejectionKind::Inbox(e) => e.retry_after(),
        }
    }

    /// A short body that does not help an attacker: the status's meaning only.
    pub fn public_message(&self) -> &'static str {
        // An inbox engine's error is not a configuration mistake.
        #[cfg(feature = "inbox")]
        if matches!(self.kind, RejectionKind::Inbox(_))
            && self.status == StatusCode::INTERNAL_SERVER_ERROR
        {
            return "webhook receiver failed, retry later";
        }
        match self.status() {
            StatusCode::UNAUTHORIZED => "invalid webhook signature",
            StatusCode::PAYLOAD_TOO_LARGE => "payload too large",
            StatusCode::SERVICE_UNAVAILABLE => "temporarily unavailable, retry later",
            s if s.is_server_error() => "webhook receiver misconfigured",
            s if s.as_u16() == 498 => "invalid webhook signature",
            _ => "bad webhook request",
        }
    }
}

/// Why a webhook extractor — `Verified`, [`VerifiedBody`] or [`WebhookJson`] — failed.
///
/// Answered with an explicit status ([`status`](Self::status)) and a short plain-text body; the
/// `Display` form, for logs, says why without quoting the body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// No webhook layer (axum) or middleware (actix-web) wraps the route, so nothing was
    /// verified: a wiring mistake, answered 500.
    #[error("no webhook layer or middleware wraps this route")]
    MissingLayer,
    /// The verified body could not be read: 400.
    #[error("reading the verified body failed")]
    BodyRead(#[source] BoxError),
    /// The authentic body is not the handler's JSON type: 422, so the sender retries. Make the
    /// type tolerant (`#[serde(default)]`, unknown fields ignored) for events you do not handle.
    ///
    /// Only where the mismatch is is kept: serde's message quotes body values (personal data).
    #[error(
        "the verified body does not match the handler's type: {} at line {line}, column {column}",
        describe(.category)
    )]
    #[non_exhaustive]
    Json {
        /// What kind of mismatch: invalid JSON, a wrong type or shape, or a truncated body.
        category: Category,
        /// Where it was found (1-based).
        line: usize,
        /// Where it was found (1-based).
        column: usize,
    },
}

fn describe(category: &Category) -> &'static str {
    crate::encoding::json_mismatch(*category)
}

impl ExtractError {
    /// The HTTP status: 500 without a layer or middleware, 400 for an unreadable body, 422 for a
    /// body that is not the handler's type.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BodyRead(_) => StatusCode::BAD_REQUEST,
            Self::Json { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// A short body for the response, without details.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::MissingLayer => "webhook layer missing",
            Self::BodyRead(_) => "bad webhook request",
            Self::Json { .. } => "unexpected payload",
        }
    }

    /// Logs why (never the body); adapters call it when the error becomes a response.
    pub(crate) fn log(&self) {
        log_warn!(status = self.status().as_u16(), reason = %ErrorChain(self), "webhook extractor failed");
    }
}

/// The raw body and the [`Verified`] value, for handlers behind the axum `WebhookLayer` or the
/// actix-web `WebhookMiddleware`.
///
/// Fails with [`ExtractError::MissingLayer`] (500) if neither wraps the route.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifiedBody {
    /// What the verifier found.
    pub verified: Verified<'static>,
    /// The exact bytes that were verified.
    pub body: Bytes,
}

/// The verified body deserialized as JSON into `T`, for handlers behind the axum `WebhookLayer`
/// or the actix-web `WebhookMiddleware`.
///
/// A body that is authentic but does not match `T` fails with [`ExtractError::Json`] (422) —
/// the sender will retry, so make `T` tolerant (`#[serde(default)]`, unknown fields ignored) for
/// events you do not handle. Without a layer or middleware it fails with
/// [`ExtractError::MissingLayer`] (500): it never parses an unverified body.
#[derive(Debug, Clone)]
#[allow(clippy::exhaustive_structs)] // A newtype meant to be destructured.
pub struct WebhookJson<T>(pub T);

impl<T: DeserializeOwned> WebhookJson<T> {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, ExtractError> {
        serde_json::from_slice(body)
            .map(Self)
            .map_err(|e| ExtractError::Json {
                category: e.classify(),
                line: e.line(),
                column: e.column(),
            })
    }
}

/// How a framework builds a short plain-text response.
pub(crate) trait Render {
    fn text(status: StatusCode, text: &'static str, retry_after: Option<Duration>) -> Self;
}

/// What to answer without (or instead of) the handler's response.
pub(crate) enum Answer {
    /// Already processed: 200, the sender may stop retrying.
    Duplicate,
    /// Another attempt holds the lease: 409 + `Retry-After` (not 2xx: it may still fail).
    InFlight(Duration),
    /// Verification or the store failed.
    Rejected(Rejection),
}

/// The answer when the handler panicked (the delivery was released) or its task died: 500.
pub(crate) fn failed<R: Render>() -> R {
    R::text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "webhook handler failed",
        None,
    )
}

/// What both adapters hold: the receiver, and an optional responder for rejections that builds
/// the framework's response type `R`. One `Arc`, so each request clones one reference count.
pub(crate) struct Config<St, R>(Arc<Shared<St, R>>);

struct Shared<St, R> {
    receiver: Receiver<St>,
    on_rejection: Option<Responder<R>>,
}

/// A custom rejection responder.
type Responder<R> = Arc<dyn Fn(&Rejection) -> R + Send + Sync>;

impl<St, R> Clone for Config<St, R> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<St, R> Clone for Shared<St, R> {
    fn clone(&self) -> Self {
        Self {
            receiver: self.receiver.clone(),
            on_rejection: self.on_rejection.clone(),
        }
    }
}

impl<St, R: Render> Config<St, R> {
    pub(crate) fn new(receiver: Receiver<St>) -> Self {
        Self(Arc::new(Shared {
            receiver,
            on_rejection: None,
        }))
    }

    pub(crate) fn receiver(&self) -> &Receiver<St> {
        &self.0.receiver
    }

    pub(crate) fn set_on_rejection(&mut self, f: impl Fn(&Rejection) -> R + Send + Sync + 'static) {
        Arc::make_mut(&mut self.0).on_rejection = Some(Arc::new(f));
    }

    /// Logs the rejection, then renders it with the custom responder, or the default one.
    pub(crate) fn reject(&self, rejection: Rejection) -> R {
        respond(self.0.on_rejection.as_ref(), &rejection)
    }

    pub(crate) fn answer(&self, answer: Answer) -> R {
        match answer {
            Answer::Duplicate => R::text(StatusCode::OK, "already processed", None),
            Answer::InFlight(after) => R::text(StatusCode::CONFLICT, IN_FLIGHT_BODY, Some(after)),
            Answer::Rejected(rejection) => self.reject(rejection),
        }
    }

    /// `Debug` for the adapter type named `name`.
    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result
    where
        St: fmt::Debug,
    {
        f.debug_struct(name)
            .field("receiver", &self.0.receiver)
            .field("custom_rejection", &self.0.on_rejection.is_some())
            .finish()
    }
}

impl<St: DedupStore, R: Render> Config<St, R> {
    /// Like [`reject`](Self::reject), for a request refused while its body was read (it never
    /// reached the receiver): also counted in the receiver's metrics, as the receiver counts its
    /// own refusals.
    pub(crate) fn reject_unread(&self, rejection: Rejection) -> R {
        if let RejectionKind::Receive(ReceiveError::Verify(e)) = rejection.kind() {
            let receiver = &self.0.receiver;
            crate::telemetry::rejected(
                receiver.namespace(),
                receiver.verifier().scheme().name(),
                crate::telemetry::verify_reason(e),
            );
        }
        self.reject(rejection)
    }
}

/// Logs the rejection, then renders it with the custom responder, or the default one.
fn respond<R: Render>(on_rejection: Option<&Responder<R>>, rejection: &Rejection) -> R {
    log_rejection(rejection);
    match on_rejection {
        Some(f) => f(rejection),
        None => default_rejection(rejection),
    }
}

/// The rejection's status, `Retry-After` where it applies, and its public message.
pub(crate) fn default_rejection<R: Render>(rejection: &Rejection) -> R {
    R::text(
        rejection.status(),
        rejection.public_message(),
        rejection.retry_after(),
    )
}

/// What the core sees of a request: its method, the URL it was sent to (when the receiver has a
/// [`PublicUrl`](crate::PublicUrl): behind a proxy the URI the server sees is not the URL the
/// sender called), its headers and body.
pub(crate) struct RequestView<'a> {
    pub(crate) method: &'a str,
    pub(crate) uri: &'a http::Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

/// The URL the sender called, when a [`PublicUrl`] is configured: resolved from the request's
/// authority and its path and query as received.
pub(crate) fn public_request_url(
    public_url: Option<&PublicUrl>,
    uri: &http::Uri,
    headers: &HeaderMap,
) -> Option<String> {
    let public_url = public_url?;
    // The authority of an HTTP/2 request is in its URI, of an HTTP/1 one in `Host`.
    let host = uri
        .authority()
        .map(http::uri::Authority::as_str)
        .or_else(|| headers.get(header::HOST)?.to_str().ok());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    public_url.resolve(host, path)
}

/// Verifies the request and claims its delivery: `Ok` to run the handler, `Err` to answer at
/// once.
pub(crate) async fn claim<St: DedupStore>(
    receiver: &Receiver<St>,
    view: RequestView<'_>,
) -> Result<Delivery<St>, Answer> {
    let url = public_request_url(receiver.public_url(), view.uri, view.headers);
    let mut request = crate::Request::new(view.headers, view.body).method(view.method);
    request.url = url.as_deref();
    match receiver.receive_request(&request).await {
        Ok(Outcome::New(delivery)) if !delivery.is_claimed() => {
            record(delivery.verified(), "unguarded");
            log_warn!("the dedup store failed; the handler runs without deduplication (fail open)");
            Ok(delivery)
        }
        Ok(Outcome::New(delivery)) => {
            record(delivery.verified(), "new");
            Ok(delivery)
        }
        Ok(Outcome::Duplicate(verified)) => {
            record(&verified, "duplicate");
            Err(Answer::Duplicate)
        }
        Ok(Outcome::InFlight {
            verified,
            retry_after,
        }) => {
            record(&verified, "in_flight");
            Err(Answer::InFlight(retry_after))
        }
        Err(e) => Err(Answer::Rejected(Rejection::new(
            receiver,
            RejectionKind::Receive(e),
        ))),
    }
}

/// What both inbox routes hold: the endpoint, the success status, and an optional responder for
/// rejections. One `Arc`, so each request clones one reference count.
#[cfg(feature = "inbox")]
pub(crate) struct InboxConfig<E, R>(Arc<InboxShared<E, R>>);

#[cfg(feature = "inbox")]
struct InboxShared<E, R> {
    endpoint: InboxEndpoint<E>,
    success: StatusCode,
    on_rejection: Option<Responder<R>>,
}

#[cfg(feature = "inbox")]
impl<E, R> Clone for InboxConfig<E, R> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

#[cfg(feature = "inbox")]
impl<E, R> Clone for InboxShared<E, R> {
    fn clone(&self) -> Self {
        Self {
            endpoint: self.endpoint.clone(),
            success: self.success,
            on_rejection: self.on_rejection.clone(),
        }
    }
}

/// The status an inbox route answers by default once a delivery is durably accepted.
#[cfg(feature = "inbox")]
pub(crate) const DEFAULT_SUCCESS: StatusCode = StatusCode::OK;

#[cfg(feature = "inbox")]
impl<E: InboxEngine, R: Render> InboxConfig<E, R> {
    pub(crate) fn new(endpoint: InboxEndpoint<E>) -> Self {
        Self(Arc::new(InboxShared {
            endpoint,
            success: DEFAULT_SUCCESS,
            on_rejection: None,
        }))
    }

    pub(crate) fn endpoint(&self) -> &InboxEndpoint<E> {
        &self.0.endpoint
    }

    pub(crate) fn verifier(&self) -> &Verifier {
        self.0.endpoint.verifier()
    }

    /// Sets the success status: a 2xx, or senders would retry what is stored.
    pub(crate) fn set_success(
        &mut self,
        status: StatusCode,
    ) -> Result<(), crate::error::ConfigError> {
        if !status.is_success() {
            return Err(crate::error::ConfigError::invalid(
                "success_status",
                "must be a 2xx status: senders retry anything else",
            ));
        }
        Arc::make_mut(&mut self.0).success = status;
        Ok(())
    }

    pub(crate) fn set_on_rejection(&mut self, f: impl Fn(&Rejection) -> R + Send + Sync + 'static) {
        Arc::make_mut(&mut self.0).on_rejection = Some(Arc::new(f));
    }

    /// Logs the rejection, then renders it with the custom responder, or the default one.
    pub(crate) fn reject(&self, rejection: Rejection) -> R {
        respond(self.0.on_rejection.as_ref(), &rejection)
    }

    /// Like [`reject`](Self::reject), for a request refused while its body was read (it never
    /// reached the endpoint): also counted in the endpoint's metrics, as the endpoint counts its
    /// own refusals.
    pub(crate) fn reject_unread(&self, rejection: Rejection) -> R {
        if let RejectionKind::Receive(ReceiveError::Verify(e)) = rejection.kind() {
            self.0.endpoint.rejected_unread(e);
        }
        self.reject(rejection)
    }

    /// Verifies the request and accepts it into the inbox: the success status once it is
    /// durably stored (a duplicate too: it is stored already), else the rejection's answer.
    pub(crate) async fn accept(
        &self,
        method: &str,
        uri: &http::Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> R {
        let endpoint = &self.0.endpoint;
        let url = public_request_url(endpoint.public_url(), uri, headers);
        match endpoint
            .receive_request(method, url.as_deref(), headers, body)
            .await
        {
            Ok(receipt) => {
                let outcome = if receipt.is_duplicate() {
                    "duplicate"
                } else {
                    "accepted"
                };
                record_accepted(receipt.event_id(), outcome);
                let text = match self.0.success {
                    // No body with a 204.
                    StatusCode::NO_CONTENT => "",
                    _ if receipt.is_duplicate() => "already accepted",
                    _ => "accepted",
                };
                R::text(self.0.success, text, None)
            }
            Err(InboxReceiveError::Verify(e)) => {
                let kind = RejectionKind::Receive(ReceiveError::Verify(e));
                self.reject(Rejection::of(endpoint.verifier(), kind))
            }
            Err(InboxReceiveError::Inbox(e)) => {
                self.reject(Rejection::of(endpoint.verifier(), RejectionKind::Inbox(e)))
            }
            Err(InboxReceiveError::Key(e)) => {
                let kind = RejectionKind::Receive(ReceiveError::Key(e));
                self.reject(Rejection::of(endpoint.verifier(), kind))
            }
        }
    }

    /// `Debug` for the adapter type named `name`.
    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("endpoint", &self.0.endpoint)
            .field("success_status", &self.0.success)
            .field("custom_rejection", &self.0.on_rejection.is_some())
            .finish()
    }
}

/// The answer when an accept's task died (its runtime shut down, or the engine panicked): 503 +
/// `Retry-After`, since nothing may have been stored and the sender should try again.
#[cfg(feature = "inbox")]
pub(crate) fn accept_failed<R: Render>() -> R {
    R::text(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily unavailable, retry later",
        Some(crate::inbox::INBOX_RETRY_AFTER),
    )
}

/// Runs `task` out of reach of the request's future: polled once here, and if that does not
/// finish it, handed to `spawn` — a task of its own, which dropping the request's future does not
/// cancel — whose output is then awaited. A task that finishes at once (an in-memory store and a
/// quick handler) costs no spawn. `None` if the task panicked, on this first poll or in its own
/// task, or if that task died otherwise (its runtime shut down).
pub(crate) async fn detach<F, J, E>(
    mut task: Pin<Box<F>>,
    spawn: impl FnOnce(Pin<Box<F>>) -> J,
) -> Option<F::Output>
where
    F: Future + ?Sized,
    J: Future<Output = Result<F::Output, E>>,
{
    // This await never suspends (the poll_fn is ready at once), nor does `spawn(task).await`
    // before spawning: nothing can drop the request's future between the poll and the spawn.
    // A panic on this first poll is caught as the spawned task would catch it; the task is
    // dropped, never polled again.
    let first = poll_fn(|cx| {
        Poll::Ready(std::panic::catch_unwind(AssertUnwindSafe(|| {
            task.as_mut().poll(cx)
        })))
    })
    .await;
    match first {
        Ok(Poll::Ready(output)) => Some(output),
        Ok(Poll::Pending) => spawn(task).await.ok(),
        Err(_) => {
            // Not the panic's message: it may quote anything, the body included.
            log_warn!("a webhook request's task panicked");
            None
        }
    }
}

/// Runs the handler to its end, then completes the claim if `succeeded` says so and releases it
/// otherwise — also when the handler panics, which returns `None`.
///
/// Adapters run this through [`detach`], so a sender that hangs up or times out cancels neither
/// the handler nor the completion.
pub(crate) async fn run<St, F>(
    delivery: Delivery<St>,
    handler: F,
    succeeded: impl FnOnce(&F::Output) -> bool,
) -> Option<F::Output>
where
    St: DedupStore,
    F: Future,
{
    // The handler's state is dropped, never reused, after a panic.
    let output = AssertUnwindSafe(handler).catch_unwind().await.ok();
    if output.is_none() {
        // Not the panic's message: it may quote anything, the body included.
        log_warn!("the webhook handler panicked; releasing the delivery");
    }
    finish(delivery, output.as_ref().is_some_and(succeeded)).await;
    output
}

/// Completes the claim after a 2xx, releases it otherwise; store failures are logged (after a
/// 2xx the lease expires and a retry would run the handler again; after a failure the retry
/// waits for the lease).
async fn finish<St: DedupStore>(delivery: Delivery<St>, success: bool) {
    if success {
        record_outcome("completed");
        // Failing open, nothing was claimed: nothing to complete, no lease to have lost.
        let claimed = delivery.is_claimed();
        match delivery.complete().await {
            Ok(true) => {}
            Ok(false) if !claimed => {}
            Ok(false) => log_warn!(
                "the lease expired before the handler finished; another attempt may run it again"
            ),
            Err(_e) => {
                log_warn!(error = %ErrorChain(&_e), "completing the delivery failed; a retry may run the handler again")
            }
        }
    } else {
        record_outcome("released");
        if let Err(_e) = delivery.release().await {
            log_warn!(error = %ErrorChain(&_e), "releasing the delivery failed; its retry waits for the lease");
        }
    }
}

/// Whole seconds, rounded up, at least 1.
pub(crate) fn retry_after_value(after: Duration) -> HeaderValue {
    let secs = after
        .as_secs()
        .saturating_add(u64::from(after.subsec_nanos() > 0));
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

fn log_rejection(_rejection: &Rejection) {
    record_outcome("rejected");
    log_warn!(status = _rejection.status().as_u16(), reason = %ErrorChain(_rejection), "webhook rejected");
}

#[cfg_attr(not(feature = "tracing"), allow(unused_imports))]
use crate::telemetry::{ErrorChain, log_warn};

#[cfg(feature = "tracing")]
pub(crate) type Span = tracing::Span;
/// Stands in for a span when tracing is off.
#[cfg(not(feature = "tracing"))]
#[derive(Clone)]
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
fn record(_verified: &Verified<'_>, _outcome: &'static str) {
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

/// Records the event id and the accept outcome on the current delivery span.
#[cfg(feature = "inbox")]
fn record_accepted(_event_id: Option<&str>, _outcome: &'static str) {
    #[cfg(feature = "tracing")]
    {
        let span = tracing::Span::current();
        if let Some(id) = _event_id {
            span.record("event_id", id);
        }
        span.record("outcome", _outcome);
        tracing::debug!("webhook accepted into the inbox");
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
    fn retry_after_is_whole_seconds_rounded_up_for_any_duration() {
        for (after, secs) in [
            (Duration::ZERO, "1"),
            (Duration::from_millis(1), "1"),
            (Duration::from_millis(1500), "2"),
            (Duration::from_secs(30), "30"),
            // Overflowed (a panic in debug builds) before.
            (Duration::MAX, "18446744073709551615"),
        ] {
            assert_eq!(retry_after_value(after), secs, "{after:?}");
        }
    }

    #[test]
    fn chain_keeps_the_cause() {
        let receiver = crate::Receiver::new(
            crate::Verifier::builder(crate::providers::GitHub::new())
                .secret("s")
                .build()
                .unwrap(),
            crate::dedup::MemoryStore::new(),
        );
        let store_down = ReceiveError::Store(StoreError::unavailable("connection refused"));
        let e = Rejection::new(&receiver, RejectionKind::Receive(store_down));
        assert_eq!(
            ErrorChain(&e).to_string(),
            "dedup store unavailable: connection refused"
        );
        let e = Rejection::new(
            &receiver,
            RejectionKind::BodyRead("connection reset".into()),
        );
        assert_eq!(
            ErrorChain(&e).to_string(),
            "reading the request body failed: connection reset"
        );
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn rejections_use_the_scheme_s_status() {
        fn receiver(scheme: impl crate::Scheme) -> crate::Receiver {
            crate::Receiver::new(
                crate::Verifier::builder(scheme)
                    .secret("s")
                    .build()
                    .unwrap(),
                crate::dedup::MemoryStore::new(),
            )
        }
        let mismatch =
            || RejectionKind::Receive(ReceiveError::Verify(VerifyError::SignatureMismatch));
        let gocardless = receiver(crate::providers::GoCardless::new());
        let e = Rejection::new(&gocardless, mismatch());
        assert_eq!(e.status().as_u16(), 498);
        assert_eq!(e.public_message(), "invalid webhook signature");
        let github = receiver(crate::providers::GitHub::new());
        assert_eq!(
            Rejection::new(&github, mismatch()).status(),
            StatusCode::UNAUTHORIZED
        );
        // A too-large body stays 413 everywhere.
        assert_eq!(
            Rejection::body_too_large(gocardless.verifier(), 1).status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[cfg(feature = "inbox")]
    #[test]
    fn inbox_failures_answer_503_with_retry_after_or_500() {
        use crate::inbox::{INBOX_RETRY_AFTER, InboxError};
        let verifier = crate::Verifier::builder(crate::providers::GoCardless::new())
            .secret("s")
            .build()
            .unwrap();
        let full = Rejection::of(
            &verifier,
            RejectionKind::Inbox(InboxError::Full { limit: 3 }),
        );
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(full.retry_after(), Some(INBOX_RETRY_AFTER));
        assert_eq!(
            full.public_message(),
            "temporarily unavailable, retry later"
        );
        assert_eq!(
            ErrorChain(&full).to_string(),
            "inbox full: 3 unfinished records"
        );
        let down = InboxError::unavailable("connection refused");
        let down = Rejection::of(&verifier, RejectionKind::Inbox(down));
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            ErrorChain(&down).to_string(),
            "inbox engine unavailable: connection refused"
        );
        let broken = Rejection::of(
            &verifier,
            RejectionKind::Inbox(InboxError::backend("bad reply")),
        );
        assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(broken.retry_after(), None);
        assert_eq!(
            broken.public_message(),
            "webhook receiver failed, retry later"
        );
        // Verification failures keep the scheme's own status.
        let mismatch = RejectionKind::Receive(ReceiveError::Verify(VerifyError::SignatureMismatch));
        assert_eq!(Rejection::of(&verifier, mismatch).status().as_u16(), 498);
    }

    #[test]
    fn the_public_url_is_resolved_from_the_request() {
        let headers = {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static("internal:8080"));
            h
        };
        let uri: http::Uri = "/hooks/twilio?a=1".parse().unwrap();
        assert_eq!(public_request_url(None, &uri, &headers), None);
        let base = PublicUrl::Base("https://hooks.example.com/".into());
        assert_eq!(
            public_request_url(Some(&base), &uri, &headers).as_deref(),
            Some("https://hooks.example.com/hooks/twilio?a=1")
        );
        assert_eq!(
            public_request_url(Some(&PublicUrl::FromHost), &uri, &headers).as_deref(),
            Some("https://internal:8080/hooks/twilio?a=1")
        );
        // HTTP/2: the authority is in the URI.
        let h2: http::Uri = "https://sender.example/x".parse().unwrap();
        assert_eq!(
            public_request_url(Some(&PublicUrl::FromHost), &h2, &HeaderMap::new()).as_deref(),
            Some("https://sender.example/x")
        );
    }

    #[test]
    fn a_json_mismatch_says_where_but_never_what() {
        let body = br#"{"n": "alice.personal@example.com"}"#;
        let Err(e) = WebhookJson::<u64>::parse(body) else {
            panic!("a number cannot be parsed from an object")
        };
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)] // Only deserialized.
        struct Typed {
            n: u64,
        }
        let e = WebhookJson::<Typed>::parse(body).unwrap_err();
        let (display, debug) = (ErrorChain(&e).to_string(), format!("{e:?}"));
        assert_eq!(
            display,
            "the verified body does not match the handler's type: a value of the wrong type or \
             shape at line 1, column 34"
        );
        for text in [display, debug] {
            assert!(!text.contains("alice"), "{text}");
        }
        let e = WebhookJson::<Typed>::parse(br#"{"n": 1"#).unwrap_err();
        assert!(e.to_string().contains("JSON cut short"), "{e}");
    }

    #[test]
    fn every_extract_error_has_an_explicit_status() {
        assert_eq!(ExtractError::MissingLayer.status(), 500);
        assert_eq!(ExtractError::BodyRead("reset".into()).status(), 400);
        assert_eq!(
            WebhookJson::<u64>::parse(b"{").unwrap_err().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
