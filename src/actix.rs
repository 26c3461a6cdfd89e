//! actix-web 4 adapter: middleware that wraps any scope, resource or app, and extractors.
//!
//! The behaviour and statuses are the axum adapter's (the status table is in the
//! [crate docs](crate)): the body is read up to the verifier's limit (413 beyond it, or at once
//! for a declared `Content-Length` over it), verified (400/401), claimed (duplicate: 200 without
//! the handler; in flight: 409 + `Retry-After`; store down: 503 + `Retry-After`), and handed to
//! the handler with the [`Verified`] value in the request extensions. A 2xx completes the claim;
//! any other status, an error or a panic (answered 500) releases it.
//!
//! Verifying, claiming, the handler and the completion (or release) run out of the connection's
//! reach: polled once in place and, as soon as they would wait, moved to a task of their own on
//! the worker's runtime (`actix_web::rt::spawn`), from which the answer comes. A sender that
//! times out or hangs up — also with `HttpServer::h1_allow_half_closed(false)`, or over HTTP/2 —
//! never stops the handler halfway nor loses a completion under way. Only a worker that shuts
//! down cuts it short; the claim then stays until its lease ends, as after a crash. The
//! middleware, like every actix-web service, runs on actix's runtime.
//!
//! With feature `inbox` (and an engine: `sqlite`, or your own), `InboxHandler` is a whole
//! route instead of middleware: it verifies a request, stores it durably in an inbox
//! (`webhook_receiver::inbox`) and answers at once (200, or the status you choose) — no
//! handler of yours on the request path; workers process the records later. Full or down:
//! 503 + `Retry-After`.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use webhook_receiver::actix::{WebhookJson, WebhookMiddleware};
//! use webhook_receiver::{Receiver, Verifier, dedup::MemoryStore, providers::GitHub};
//!
//! #[derive(serde::Deserialize)]
//! struct Push {
//!     r#ref: String,
//! }
//!
//! async fn push(WebhookJson(push): WebhookJson<Push>) -> &'static str {
//!     println!("pushed to {}", push.r#ref);
//!     "ok"
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let secret = std::env::var("GITHUB_WEBHOOK_SECRET")?;
//!     let verifier = Verifier::builder(GitHub::new()).secret(&secret).build()?;
//!     let receiver = Receiver::new(verifier, MemoryStore::new());
//!     HttpServer::new(move || {
//!         App::new().service(
//!             web::resource("/webhooks/github")
//!                 .wrap(WebhookMiddleware::new(receiver.clone()))
//!                 .route(web::post().to(push)),
//!         )
//!     })
//!     .bind("127.0.0.1:3000")?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```

use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::error::{InternalError, PayloadError};
use actix_web::http::StatusCode as ActixStatus;
use actix_web::http::header as actix_header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::de::DeserializeOwned;

#[cfg(feature = "inbox")]
use crate::adapter::InboxConfig;
use crate::adapter::{self, Config, RejectionKind, Render, Span};
pub use crate::adapter::{ExtractError, Rejection, VerifiedBody, WebhookJson};
use crate::dedup::{DedupStore, MemoryStore};
#[cfg(feature = "edge")]
#[cfg_attr(docsrs, doc(cfg(feature = "edge")))]
pub use crate::edge::actix::{EdgeMiddleware, EdgeMiddlewareService};
#[cfg(feature = "inbox")]
use crate::inbox::{InboxEndpoint, InboxEngine};
use crate::{Receiver, Verified, Verifier};

fn actix_status(status: StatusCode) -> ActixStatus {
    ActixStatus::from_u16(status.as_u16()).unwrap_or(ActixStatus::INTERNAL_SERVER_ERROR)
}

impl Render for HttpResponse {
    fn text(status: StatusCode, text: &'static str, retry_after: Option<Duration>) -> Self {
        let mut response = HttpResponse::build(actix_status(status));
        if let Some(after) = retry_after {
            // Digits only: always a valid header value.
            let value = adapter::retry_after_value(after);
            response.insert_header((actix_header::RETRY_AFTER, value.as_bytes()));
        }
        response
            .content_type("text/plain; charset=utf-8")
            .body(text)
    }
}

impl ResponseError for Rejection {
    /// Explicit for every variant: 400, 401, 413 or 503 (the crate's status table), never
    /// actix's default 500.
    fn status_code(&self) -> ActixStatus {
        actix_status(self.status())
    }

    fn error_response(&self) -> HttpResponse {
        adapter::default_rejection(self)
    }
}

impl ResponseError for ExtractError {
    /// Explicit for every variant: 500 without the middleware, 400 for an unreadable body, 422
    /// for a body that is not the handler's type.
    fn status_code(&self) -> ActixStatus {
        actix_status(self.status())
    }

    /// Logs why (never the body), then answers with a short plain-text body.
    fn error_response(&self) -> HttpResponse {
        self.log();
        HttpResponse::text(self.status(), self.public_message(), None)
    }
}

/// Middleware: verify, claim, call, complete or release.
pub struct WebhookMiddleware<St = MemoryStore> {
    config: Config<St, HttpResponse>,
}
impl<St> Clone for WebhookMiddleware<St> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
        }
    }
}

impl<St: fmt::Debug> fmt::Debug for WebhookMiddleware<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.debug("WebhookMiddleware", f)
    }
}

impl<St: DedupStore> WebhookMiddleware<St> {
    /// Middleware around `receiver`.
    pub fn new(receiver: Receiver<St>) -> Self {
        Self {
            config: Config::new(receiver),
        }
    }

    /// Builds rejection responses with `f` instead of [`Rejection`]'s `ResponseError`. Default:
    /// the status from the crate's status table with a short plain-text body. Keep the status:
    /// senders retry on it.
    #[must_use]
    pub fn on_rejection<F>(mut self, f: F) -> Self
    where
        F: Fn(&Rejection) -> HttpResponse + Send + Sync + 'static,
    {
        self.config.set_on_rejection(f);
        self
    }
}

impl<S, B, St> Transform<S, ServiceRequest> for WebhookMiddleware<St>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    St: DedupStore,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = WebhookMiddlewareService<S, St>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(WebhookMiddlewareService {
            service: Rc::new(service),
            middleware: self.clone(),
        }))
    }
}

/// The service [`WebhookMiddleware`] produces.
pub struct WebhookMiddlewareService<S, St = MemoryStore> {
    service: Rc<S>,
    middleware: WebhookMiddleware<St>,
}

impl<S, St: fmt::Debug> fmt::Debug for WebhookMiddlewareService<S, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookMiddlewareService")
            .field("middleware", &self.middleware)
            .finish_non_exhaustive()
    }
}

/// actix-web 4 speaks `http` 0.2; the core speaks `http` 1.
fn convert_headers(from: &actix_header::HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(from.len());
    for (name, value) in from {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

impl<S, B, St> Service<ServiceRequest> for WebhookMiddlewareService<S, St>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    St: DedupStore,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let config = self.middleware.config.clone();
        let span = adapter::delivery_span(config.receiver().verifier().scheme().name());
        let fut = handle(service, config, req, span.clone());
        Box::pin(adapter::instrument(fut, span))
    }
}

type Answered<B> = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

/// Reads the body in the request's future, then hands the rest to a task of its own (see
/// [`adapter::detach`]).
async fn handle<S, B, St>(
    service: Rc<S>,
    config: Config<St, HttpResponse>,
    mut req: ServiceRequest,
    span: Span,
) -> Answered<B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    St: DedupStore,
{
    let headers = convert_headers(req.headers());
    let payload = req.take_payload();
    let body = match read_payload(config.receiver().verifier(), &headers, payload).await {
        Ok(body) => body,
        Err(rejection) => {
            return Ok(req
                .into_response(config.reject_unread(rejection))
                .map_into_right_body());
        }
    };
    let task = Box::pin(process(service, config, req, headers, body));
    // A task does not inherit the request's span.
    let spawn = |task| actix_web::rt::spawn(adapter::instrument(task, span));
    // The handler's panics are caught inside the task: an error here is the worker shutting
    // down, or a store that panicked.
    adapter::detach(task, spawn)
        .await
        .unwrap_or_else(|| Err(failed()))
}

/// Reads the body up to the verifier's limit: 413 beyond it (at once for a declared
/// `Content-Length` over it), 400 if it cannot be read.
async fn read_payload<P>(
    verifier: &Verifier,
    headers: &HeaderMap,
    mut payload: P,
) -> Result<Bytes, Rejection>
where
    P: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    let limit = verifier.body_limit();
    if adapter::content_length_exceeds(headers, limit) {
        return Err(Rejection::body_too_large(verifier, limit));
    }
    // Read at most limit + 1 bytes.
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| Rejection::of(verifier, RejectionKind::BodyRead(Box::new(e))))?;
        if body.len() + chunk.len() > limit {
            return Err(Rejection::body_too_large(verifier, limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The URI as the core's `http` 1 type (actix-web 4 speaks `http` 0.2).
fn convert_uri(uri: &actix_web::http::Uri) -> http::Uri {
    uri.to_string().parse().unwrap_or_default()
}

/// Verifies, claims, runs the handler and completes or releases the delivery.
async fn process<S, B, St>(
    service: Rc<S>,
    config: Config<St, HttpResponse>,
    mut req: ServiceRequest,
    headers: HeaderMap,
    body: Bytes,
) -> Answered<B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
    St: DedupStore,
{
    // What the core sees of the request.
    // actix-web 4 speaks `http` 0.2: the method and URI as text, parsed for the core's `http` 1.
    let uri = convert_uri(req.uri());
    let view = adapter::RequestView {
        method: req.method().as_str(),
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    let delivery = match adapter::claim(config.receiver(), view).await {
        Ok(delivery) => delivery,
        Err(answer) => {
            return Ok(req
                .into_response(config.answer(answer))
                .map_into_right_body());
        }
    };
    req.extensions_mut().insert(delivery.verified().clone());
    req.set_payload(Payload::from(body));
    let handler = async move { service.call(req).await };
    let succeeded = |result: &Result<ServiceResponse<B>, _>| matches!(result, Ok(response) if response.status().is_success());
    match adapter::run(delivery, handler, succeeded).await {
        Some(result) => result.map(ServiceResponse::map_into_left_body),
        None => Err(failed()),
    }
}

/// The 500 for a handler that panicked (its request went down with it).
fn failed() -> actix_web::Error {
    InternalError::from_response("webhook handler failed", adapter::failed()).into()
}

impl FromRequest for Verified<'static> {
    type Error = ExtractError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Verified<'static>>()
                .cloned()
                .ok_or(ExtractError::MissingLayer),
        )
    }
}

impl FromRequest for VerifiedBody {
    type Error = ExtractError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let verified = req.extensions().get::<Verified<'static>>().cloned();
        let mut payload = payload.take();
        Box::pin(async move {
            let verified = verified.ok_or(ExtractError::MissingLayer)?;
            // The middleware already bounded and buffered the body.
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                body.extend_from_slice(&chunk.map_err(|e| ExtractError::BodyRead(Box::new(e)))?);
            }
            Ok(Self {
                verified,
                body: body.freeze(),
            })
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for WebhookJson<T> {
    type Error = ExtractError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = VerifiedBody::from_request(req, payload);
        Box::pin(async move { Self::parse(&body.await?.body) })
    }
}

/// The whole request path of an [inbox](crate::inbox) endpoint as an actix-web handler: reads
/// the body up to the verifier's limit, verifies it, [accepts](InboxEndpoint::receive_request) it
/// durably, and answers at once — no handler of yours on the request path;
/// [workers](crate::inbox::Worker) process the records.
///
/// The statuses are `axum::InboxService`'s: 200 (or the
/// [`success_status`](Self::success_status)) once stored or found stored already; 400, 401 (or
/// the scheme's own) and 413 for requests that fail verification; 503 + `Retry-After` when the
/// inbox is full (`max_pending`) or its engine unavailable; 500 for other engine errors. A 2xx
/// is sent only after the record is durably stored. Verifying and accepting run out of the
/// connection's reach (moved to a task of their own on the worker's runtime as soon as they
/// would wait): a sender that hangs up does not cancel an accept under way. Schemes that sign
/// the URL (Twilio, Square) need
/// [`InboxEndpointBuilder::public_url`](crate::inbox::InboxEndpointBuilder::public_url).
///
/// ```no_run
/// # #[cfg(feature = "sqlite")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use actix_web::{App, HttpServer, web};
/// use webhook_receiver::actix::InboxHandler;
/// use webhook_receiver::inbox::{Inbox, SqliteInbox};
/// use webhook_receiver::{Verifier, providers::GitHub};
///
/// let inbox = Inbox::builder(SqliteInbox::open("inbox.db").await?)
///     .max_pending(100_000) // then 503 + Retry-After
///     .build()?;
/// let verifier = Verifier::builder(GitHub::new())
///     .secret(&std::env::var("GITHUB_WEBHOOK_SECRET")?)
///     .build()?;
/// let handler = InboxHandler::new(inbox.endpoint(verifier).namespace("github").build()?);
/// HttpServer::new(move || {
///     App::new()
///         // Either form: a POST route with the handler, or `handler.route()`.
///         .service(web::resource("/webhooks/github").route(web::post().to(handler.clone())))
///         .service(web::resource("/hooks/github").route(handler.clone().route()))
/// })
/// .bind("127.0.0.1:3000")?
/// .run()
/// .await?;
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "inbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "inbox")))]
pub struct InboxHandler<E> {
    config: InboxConfig<E, HttpResponse>,
}

#[cfg(feature = "inbox")]
impl<E> Clone for InboxHandler<E> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
        }
    }
}

#[cfg(feature = "inbox")]
impl<E: InboxEngine> fmt::Debug for InboxHandler<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.debug("InboxHandler", f)
    }
}

#[cfg(feature = "inbox")]
impl<E: InboxEngine> InboxHandler<E> {
    /// A handler that accepts requests into `endpoint`'s inbox.
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

    /// Builds rejection responses with `f` instead of [`Rejection`]'s `ResponseError`. Default:
    /// the status from the crate's status table with a short plain-text body. Keep the status:
    /// senders retry on it.
    #[must_use]
    pub fn on_rejection<F>(mut self, f: F) -> Self
    where
        F: Fn(&Rejection) -> HttpResponse + Send + Sync + 'static,
    {
        self.config.set_on_rejection(f);
        self
    }

    /// `web::post().to(self)`: a POST route for a `web::resource`.
    pub fn route(self) -> actix_web::Route {
        actix_web::web::post().to(self)
    }
}

#[cfg(feature = "inbox")]
impl<E: InboxEngine> actix_web::Handler<(HttpRequest, actix_web::web::Payload)>
    for InboxHandler<E>
{
    type Output = HttpResponse;
    type Future = Pin<Box<dyn Future<Output = HttpResponse>>>;

    fn call(&self, (req, payload): (HttpRequest, actix_web::web::Payload)) -> Self::Future {
        let config = self.config.clone();
        let span = adapter::delivery_span(config.verifier().scheme().name());
        let fut = accept(config, req, payload, span.clone());
        Box::pin(adapter::instrument(fut, span))
    }
}

/// Reads the body in the request's future, then verifies and accepts it in a task of its own
/// (see [`adapter::detach`]).
#[cfg(feature = "inbox")]
async fn accept<E: InboxEngine>(
    config: InboxConfig<E, HttpResponse>,
    req: HttpRequest,
    payload: actix_web::web::Payload,
    span: Span,
) -> HttpResponse {
    let headers = convert_headers(req.headers());
    let body = match read_payload(config.verifier(), &headers, payload).await {
        Ok(body) => body,
        Err(rejection) => return config.reject_unread(rejection),
    };
    let uri = convert_uri(req.uri());
    let method = req.method().as_str().to_owned();
    // Not the request: it stays with the connection.
    drop(req);
    let task = Box::pin(async move { config.accept(&method, &uri, &headers, body).await });
    // A task does not inherit the request's span.
    let spawn = |task| actix_web::rt::spawn(adapter::instrument(task, span));
    // An error is the worker shutting down, or an engine that panicked: nothing is
    // acknowledged.
    adapter::detach(task, spawn)
        .await
        .unwrap_or_else(adapter::accept_failed)
}
