//! axum 0.8 adapter: a tower [`Layer`] that wraps any route or router, and extractors.
//!
//! The layer reads the body up to the verifier's limit, verifies it, claims the delivery, and
//! calls the wrapped service with the body handed on and the [`Verified`] value in the request
//! extensions. A 2xx response completes the claim; anything else — another status, a panic —
//! releases it, so the sender's retry is processed. Statuses follow the table in the
//! [crate docs](crate):
//!
//! | outcome | status |
//! | --- | --- |
//! | new, handler answered | the handler's |
//! | new, handler panicked | 500 |
//! | duplicate, already processed | 200, handler not called |
//! | duplicate, still in flight | 409 + `Retry-After` |
//! | missing / malformed header | 400 |
//! | bad signature, timestamp outside tolerance | 401 |
//! | body over the limit | 413 |
//! | store unavailable | 503 + `Retry-After` |
//!
//! # The handler runs to its end
//!
//! Once the body is read, verifying, claiming, the handler and the completion (or release) run
//! out of the connection's reach: polled once in place and, as soon as they would wait, moved to
//! a Tokio task of their own, from which the answer comes. A sender that times out or hangs
//! up — GitHub waits about 10 s, Shopify 5, Slack 3 — cancels none of it: the handler is never
//! stopped halfway, and a completion under way still lands, so the sender's retry is answered
//! 409 while the handler runs and 200 (without running it) after. Keep handlers well under the
//! sender's timeout all the same: a sender that saw no answer counts a failure.
//!
//! What still cuts a handler short is the runtime shutting down: the claim then stays until its
//! lease ends, as after a crash, and the retry after it is processed. (Outside a Tokio runtime
//! the layer runs everything in the request's own future.)
//!
//! ```no_run
//! use axum::{Router, routing::post};
//! use webhook_receiver::axum::{WebhookJson, WebhookLayer};
//! use webhook_receiver::{Receiver, Verifier, dedup::MemoryStore, providers::Stripe};
//!
//! #[derive(serde::Deserialize)]
//! struct Event {
//!     id: String,
//!     r#type: String,
//! }
//!
//! async fn stripe(WebhookJson(event): WebhookJson<Event>) -> &'static str {
//!     println!("{} {}", event.id, event.r#type);
//!     "ok"
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = std::env::var("STRIPE_WEBHOOK_SECRET")?;
//! let verifier = Verifier::builder(Stripe::new()).secret(&secret).build()?;
//! let receiver = Receiver::new(verifier, MemoryStore::new());
//! let app: Router = Router::new().route("/webhooks/stripe", post(stripe).layer(WebhookLayer::new(receiver)));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # The inbox route
//!
//! With feature `inbox` (and an engine: `sqlite`, or your own), `InboxService` is a whole
//! route instead of a layer: it verifies a request, stores it durably in an inbox
//! (`webhook_receiver::inbox`) and answers at once (200, or the status you choose) — no
//! handler on the request path; workers process the records later. Full or down: 503 +
//! `Retry-After`.
//!
//! The layer is a plain tower `Layer`, so it can also be driven without a server:
//!
//! ```
//! use axum::{Router, body::Body, routing::post};
//! use tower::ServiceExt;
//! use webhook_receiver::axum::{VerifiedBody, WebhookLayer};
//! use webhook_receiver::testing::Signer;
//! use webhook_receiver::{Receiver, Verifier, dedup::MemoryStore, providers::GitHub};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! const SECRET: &str = "It's a Secret to Everybody";
//! let verifier = Verifier::builder(GitHub::new()).secret(SECRET).build()?;
//! let layer = WebhookLayer::new(Receiver::new(verifier, MemoryStore::new()));
//! let app = Router::new().route("/", post(|v: VerifiedBody| async move { v.body }).layer(layer));
//!
//! let signed = |body: &'static str| -> Result<_, Box<dyn std::error::Error>> {
//!     let mut request = http::Request::post("/").body(Body::from(body))?;
//!     *request.headers_mut() = Signer::new(GitHub::new(), SECRET)?.sign(body.as_bytes())?;
//!     Ok(request)
//! };
//! let text = |response: axum::response::Response| async move {
//!     axum::body::to_bytes(response.into_body(), 1024).await.map(|b| b.to_vec())
//! };
//! // The handler's answer; the delivery is completed.
//! let response = app.clone().oneshot(signed("Hello, World!")?).await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(text(response).await?, b"Hello, World!");
//! // The same delivery again: 200 without running the handler.
//! let response = app.clone().oneshot(signed("Hello, World!")?).await?;
//! assert_eq!(text(response).await?, b"already processed");
//! // A forged one.
//! let forged = http::Request::post("/")
//!     .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
//!     .body(Body::from("Hello, World!"))?;
//! assert_eq!(app.oneshot(forged).await?.status(), 401);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_core::body::Body;
use axum_core::extract::{FromRequest, FromRequestParts, Request};
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;
use tower_layer::Layer;
use tower_service::Service;

#[cfg(feature = "inbox")]
use crate::adapter::InboxConfig;
use crate::adapter::{self, Config, RejectionKind, Render, Span};
pub use crate::adapter::{ExtractError, Rejection, VerifiedBody, WebhookJson};
use crate::dedup::{DedupStore, MemoryStore};
#[cfg(feature = "axum-edge")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum-edge")))]
pub use crate::edge::axum::{EdgeLayer, EdgeService};
#[cfg(feature = "inbox")]
use crate::inbox::{InboxEndpoint, InboxEngine};
use crate::{Receiver, Verified, Verifier};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Render for Response {
    fn text(status: StatusCode, text: &'static str, retry_after: Option<Duration>) -> Self {
        let mut response = (status, text).into_response();
        if let Some(after) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, adapter::retry_after_value(after));
        }
        response
    }
}

impl IntoResponse for Rejection {
    /// The status from the crate's status table, `Retry-After` where it applies, and a short
    /// plain-text body that does not say why (the reason goes to the logs).
    fn into_response(self) -> Response {
        adapter::default_rejection(&self)
    }
}

impl IntoResponse for ExtractError {
    /// Logs why (never the body), then answers [`ExtractError::status`] with a short plain-text
    /// body.
    fn into_response(self) -> Response {
        self.log();
        Response::text(self.status(), self.public_message(), None)
    }
}

/// Wraps a route or router: verify, claim, call, complete or release.
pub struct WebhookLayer<St = MemoryStore> {
    config: Config<St, Response>,
}

impl<St> Clone for WebhookLayer<St> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
        }
    }
}

impl<St: fmt::Debug> fmt::Debug for WebhookLayer<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.debug("WebhookLayer", f)
    }
}

impl<St: DedupStore> WebhookLayer<St> {
    /// A layer around `receiver`.
    pub fn new(receiver: Receiver<St>) -> Self {
        Self {
            config: Config::new(receiver),
        }
    }

    /// Builds rejection responses with `f` instead of [`Rejection`]'s `IntoResponse`. Default:
    /// the status from the crate's status table with a short plain-text body. Keep the status:
    /// senders retry on it.
    #[must_use]
    pub fn on_rejection<F>(mut self, f: F) -> Self
    where
        F: Fn(&Rejection) -> Response + Send + Sync + 'static,
    {
        self.config.set_on_rejection(f);
        self
    }
}

impl<S, St: DedupStore> Layer<S> for WebhookLayer<St> {
    type Service = WebhookService<S, St>;

    fn layer(&self, inner: S) -> Self::Service {
        WebhookService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`WebhookLayer`] produces.
pub struct WebhookService<S, St = MemoryStore> {
    inner: S,
    layer: WebhookLayer<St>,
}

impl<S: Clone, St> Clone for WebhookService<S, St> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, St: fmt::Debug> fmt::Debug for WebhookService<S, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookService")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, St, B> Service<http::Request<B>> for WebhookService<S, St>
where
    S: Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    St: DedupStore,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // The clone that was driven to readiness handles this request (tower convention).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let config = self.layer.config.clone();
        let span = adapter::delivery_span(config.receiver().verifier().scheme().name());
        let fut = handle(inner, config, req, span.clone());
        Box::pin(adapter::instrument(fut, span))
    }
}

/// Reads the body in the request's future, then hands the rest to a task of its own (see
/// [`adapter::detach`]).
async fn handle<S, St, B>(
    inner: S,
    config: Config<St, Response>,
    req: http::Request<B>,
    span: Span,
) -> Result<Response, Infallible>
where
    S: Service<Request, Error = Infallible> + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    St: DedupStore,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    let body = match read_body(config.receiver().verifier(), &parts.headers, body).await {
        Ok(body) => body,
        Err(rejection) => return Ok(config.reject_unread(rejection)),
    };
    // The handler's panics are caught inside the task: an error here is the runtime shutting
    // down, or a store that panicked.
    Ok(detached(process(inner, config, parts, body), span)
        .await
        .unwrap_or_else(adapter::failed))
}

/// Reads the body up to the verifier's limit: 413 beyond it (at once for a declared
/// `Content-Length` over it), 400 if it cannot be read.
async fn read_body<B>(verifier: &Verifier, headers: &HeaderMap, body: B) -> Result<Bytes, Rejection>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let limit = verifier.body_limit();
    if adapter::content_length_exceeds(headers, limit) {
        return Err(Rejection::body_too_large(verifier, limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Rejection::body_too_large(verifier, limit))
        }
        Err(e) => Err(Rejection::of(verifier, RejectionKind::BodyRead(e))),
    }
}

/// Runs `task` out of the request's reach (see [`adapter::detach`]): a Tokio task of its own,
/// in `span`, as soon as it would wait; `None` if it panicked or that task died. Outside a
/// Tokio runtime it runs in the request's own future.
async fn detached<F>(task: F, span: Span) -> Option<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let spawn = |task: Pin<Box<F>>| async move {
        match tokio::runtime::Handle::try_current() {
            // A task does not inherit the request's span.
            Ok(runtime) => runtime
                .spawn(adapter::instrument(task, span))
                .await
                .map_err(drop),
            // Outside a Tokio runtime: in the request's own future.
            Err(_) => Ok(task.await),
        }
    };
    adapter::detach(Box::pin(task), spawn).await
}

/// The URI the sender called: under `Router::nest` the routes see it without the nesting
/// prefix, and axum's router keeps the original as `OriginalUri` (schemes that sign the URL,
/// such as Twilio and Square, need it whole).
fn original_uri(parts: &Parts) -> &http::Uri {
    parts
        .extensions
        .get::<::axum::extract::OriginalUri>()
        .map_or(&parts.uri, |original| &original.0)
}

/// Verifies, claims, runs the handler and completes or releases the delivery.
async fn process<S, St>(
    mut inner: S,
    config: Config<St, Response>,
    parts: Parts,
    body: Bytes,
) -> Response
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
    St: DedupStore,
{
    // What the core sees of the request.
    let view = adapter::RequestView {
        method: parts.method.as_str(),
        uri: original_uri(&parts),
        headers: &parts.headers,
        body: &body,
    };
    let delivery = match adapter::claim(config.receiver(), view).await {
        Ok(delivery) => delivery,
        Err(answer) => return config.answer(answer),
    };
    let mut req = Request::from_parts(parts, Body::from(body));
    req.extensions_mut().insert(delivery.verified().clone());
    let handler = async move {
        let Ok(response) = inner.call(req).await;
        response.into_response()
    };
    let succeeded = |response: &Response| response.status().is_success();
    match adapter::run(delivery, handler, succeeded).await {
        Some(response) => response,
        None => adapter::failed(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Verified<'static> {
    type Rejection = ExtractError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Verified<'static>>()
            .cloned()
            .ok_or(ExtractError::MissingLayer)
    }
}

impl<S: Send + Sync> FromRequest<S> for VerifiedBody {
    type Rejection = ExtractError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let verified = Verified::from_request_parts(&mut parts, state).await?;
        // The layer already enforced the limit and buffered the body: this is a copy-free move.
        let body = body
            .collect()
            .await
            .map_err(|e| ExtractError::BodyRead(e.into()))?
            .to_bytes();
        Ok(Self { verified, body })
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for WebhookJson<T> {
    type Rejection = ExtractError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let VerifiedBody { body, .. } = VerifiedBody::from_request(req, state).await?;
        Self::parse(&body)
    }
}

/// `Retry-After` header value helper re-exported for custom rejection responses.
pub fn retry_after(after: std::time::Duration) -> HeaderValue {
    adapter::retry_after_value(after)
}

/// The whole request path of an [inbox](crate::inbox) endpoint as a tower service: reads the
/// body up to the verifier's limit, verifies it, [accepts](InboxEndpoint::receive_request) it
/// durably, and answers at once — no handler on the request path; [workers](crate::inbox::Worker)
/// process the records.
///
/// | outcome | status |
/// | --- | --- |
/// | stored, or a duplicate of a stored record | 200, or the [`success_status`](Self::success_status) |
/// | missing / malformed header | 400 |
/// | bad signature, timestamp outside tolerance | 401 (or the scheme's own, e.g. GoCardless 498) |
/// | body over the limit | 413 |
/// | inbox full (`max_pending`) or engine unavailable | 503 + `Retry-After` |
/// | other engine errors, a URL-signing scheme without a public URL | 500 |
///
/// A 2xx is sent only after the record is durably stored. Once the body is read, verifying and
/// accepting run out of the connection's reach (polled once in place and, as soon as they would
/// wait, moved to a Tokio task of their own), so a sender that hangs up does not cancel an
/// accept under way: the record is stored, and the sender's retry is answered 200 as a
/// duplicate. Schemes that sign the URL (Twilio, Square) need
/// [`InboxEndpointBuilder::public_url`](crate::inbox::InboxEndpointBuilder::public_url).
///
/// Mount it with `post_service` (or `route_service` for every method):
///
/// ```no_run
/// # #[cfg(feature = "sqlite")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::post_service};
/// use webhook_receiver::axum::InboxService;
/// use webhook_receiver::inbox::{Inbox, SqliteInbox};
/// use webhook_receiver::{Verifier, providers::Stripe};
///
/// let inbox = Inbox::builder(SqliteInbox::open("inbox.db").await?)
///     .max_pending(100_000) // then 503 + Retry-After
///     .build()?;
/// let verifier = Verifier::builder(Stripe::new())
///     .secret(&std::env::var("STRIPE_WEBHOOK_SECRET")?)
///     .build()?;
/// let endpoint = inbox.endpoint(verifier).namespace("stripe").build()?;
/// let app: Router = Router::new()
///     .route("/webhooks/stripe", post_service(InboxService::new(endpoint)));
/// // Run `inbox.worker(handler).run(shutdown)` next to the server.
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app).await?;
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "inbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "inbox")))]
pub struct InboxService<E> {
    config: InboxConfig<E, Response>,
}

#[cfg(feature = "inbox")]
impl<E> Clone for InboxService<E> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
        }
    }
}

#[cfg(feature = "inbox")]
impl<E: InboxEngine> fmt::Debug for InboxService<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.debug("InboxService", f)
    }
}

#[cfg(feature = "inbox")]
impl<E: InboxEngine> InboxService<E> {
    /// A service that accepts requests into `endpoint`'s inbox.
    pub fn new(endpoint: InboxEndpoint<E>) -> Self {
        Self {
            config: InboxConfig::new(endpoint),
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &InboxEndpoint<E> {
        self.config.endpoint()
    }

    /// The status answered once a delivery is stored (or found stored already). Default: 200.
    /// A 204 is sent without a body.
    ///
    /// # Errors
    ///
    /// A status that is not 2xx: senders would retry deliveries that are stored.
    pub fn success_status(mut self, status: StatusCode) -> Result<Self, crate::ConfigError> {
        self.config.set_success(status)?;
        Ok(self)
    }

    /// Builds rejection responses with `f` instead of [`Rejection`]'s `IntoResponse`. Default:
    /// the status from the table above with a short plain-text body. Keep the status: senders
    /// retry on it.
    #[must_use]
    pub fn on_rejection<F>(mut self, f: F) -> Self
    where
        F: Fn(&Rejection) -> Response + Send + Sync + 'static,
    {
        self.config.set_on_rejection(f);
        self
    }
}

#[cfg(feature = "inbox")]
impl<E, B> Service<http::Request<B>> for InboxService<E>
where
    E: InboxEngine,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let config = self.config.clone();
        let span = adapter::delivery_span(config.verifier().scheme().name());
        let fut = accept(config, req, span.clone());
        Box::pin(adapter::instrument(fut, span))
    }
}

/// Reads the body in the request's future, then verifies and accepts it in a task of its own
/// (see [`adapter::detach`]).
#[cfg(feature = "inbox")]
async fn accept<E, B>(
    config: InboxConfig<E, Response>,
    req: http::Request<B>,
    span: Span,
) -> Result<Response, Infallible>
where
    E: InboxEngine,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    let body = match read_body(config.verifier(), &parts.headers, body).await {
        Ok(body) => body,
        Err(rejection) => return Ok(config.reject_unread(rejection)),
    };
    let task = async move {
        config
            .accept(
                parts.method.as_str(),
                original_uri(&parts),
                &parts.headers,
                body,
            )
            .await
    };
    // An error is the runtime shutting down, or an engine that panicked: nothing is
    // acknowledged.
    Ok(detached(task, span)
        .await
        .unwrap_or_else(adapter::accept_failed))
}
