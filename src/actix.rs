//! actix-web 4 adapter: middleware that wraps any scope, resource or app, and extractors.
//!
//! The behaviour and statuses are the axum adapter's (see [`crate::axum`] and DESIGN §3): the
//! body is read up to the verifier's limit (413 beyond it, or at once for a declared
//! `Content-Length` over it), verified (400/401), claimed (duplicate: 200 without the handler;
//! in flight: 409 + `Retry-After`; store down: 503 + `Retry-After`), and handed to the handler
//! with the [`Verified`] value in the request extensions. A 2xx completes the claim; any other
//! status, an error, a dropped future or a panic releases it.
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

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode as ActixStatus;
use actix_web::http::header as actix_header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;

pub use crate::adapter::Rejection;
use crate::adapter::{self, Config, ReleaseOnDrop};
use crate::dedup::{DedupStore, MemoryStore};
use crate::{Outcome, Receiver, Verified};

fn actix_status(status: http::StatusCode) -> ActixStatus {
    ActixStatus::from_u16(status.as_u16()).unwrap_or(ActixStatus::INTERNAL_SERVER_ERROR)
}

fn retry_after_header(after: std::time::Duration) -> (actix_header::HeaderName, String) {
    let value = adapter::retry_after_value(after);
    (
        actix_header::RETRY_AFTER,
        value.to_str().unwrap_or("1").to_owned(),
    )
}

impl ResponseError for Rejection {
    /// Explicit for every variant: 400, 401, 413 or 503 (DESIGN §3), never actix's default 500.
    fn status_code(&self) -> ActixStatus {
        actix_status(self.status())
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(after) = self.retry_after() {
            response.insert_header(retry_after_header(after));
        }
        response
            .content_type("text/plain; charset=utf-8")
            .body(self.public_message())
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
    /// the DESIGN §3 status with a short plain-text body. Keep the status: senders retry on it.
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
fn convert_headers(req: &ServiceRequest) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
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
        let middleware = self.middleware.clone();
        let span = adapter::delivery_span(middleware.config.receiver.verifier().scheme().name());
        Box::pin(adapter::instrument(handle(service, middleware, req), span))
    }
}

async fn handle<S, B, St>(
    service: Rc<S>,
    middleware: WebhookMiddleware<St>,
    mut req: ServiceRequest,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
    St: DedupStore,
{
    let reply = |req: ServiceRequest, response: HttpResponse| {
        Ok(req.into_response(response).map_into_right_body())
    };
    let config = &middleware.config;
    let reject = |req: ServiceRequest, rejection: Rejection| {
        reply(req, config.reject(rejection, Rejection::error_response))
    };
    let receiver = &config.receiver;
    let limit = receiver.verifier().body_limit();
    let headers = convert_headers(&req);
    if adapter::content_length_exceeds(&headers, limit) {
        return reject(req, Rejection::body_too_large(limit));
    }

    // Read at most limit + 1 bytes.
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => return reject(req, Rejection::BodyRead(Box::new(e))),
        };
        if body.len() + chunk.len() > limit {
            return reject(req, Rejection::body_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();

    let delivery = match receiver.receive(&headers, &body).await {
        Ok(Outcome::New(delivery)) => delivery,
        Ok(Outcome::Duplicate(verified)) => {
            adapter::record(&verified, "duplicate");
            let (status, text) = adapter::DUPLICATE;
            return reply(
                req,
                HttpResponse::build(actix_status(status))
                    .content_type("text/plain; charset=utf-8")
                    .body(text),
            );
        }
        Ok(Outcome::InFlight {
            verified,
            retry_after,
        }) => {
            adapter::record(&verified, "in_flight");
            return reply(
                req,
                HttpResponse::Conflict()
                    .insert_header(retry_after_header(retry_after))
                    .content_type("text/plain; charset=utf-8")
                    .body(adapter::IN_FLIGHT_BODY),
            );
        }
        Err(e) => return reject(req, Rejection::Receive(e)),
    };
    adapter::record(delivery.verified(), "new");

    req.extensions_mut().insert(delivery.verified().clone());
    req.set_payload(Payload::from(body));
    let guard = ReleaseOnDrop::new(delivery);
    let result = service.call(req).await;
    let success = matches!(&result, Ok(res) if res.status().is_success());
    adapter::finish(guard.into_inner(), success).await;
    result.map(ServiceResponse::map_into_left_body)
}

/// A handler extractor used without a [`WebhookMiddleware`] in front of it: answered 500.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("no WebhookMiddleware wraps this route")]
#[non_exhaustive]
pub struct MissingMiddleware;

impl ResponseError for MissingMiddleware {
    fn status_code(&self) -> ActixStatus {
        ActixStatus::INTERNAL_SERVER_ERROR
    }
}

/// The verified body could not be read or parsed by an extractor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// No middleware in front of the handler (500).
    #[error(transparent)]
    MissingMiddleware(#[from] MissingMiddleware),
    /// The body stream failed (400).
    #[error("reading the verified body failed")]
    Body(#[source] actix_web::error::PayloadError),
    /// The authentic body does not match the handler's type (422).
    #[error("the verified body does not match the expected type")]
    Json(#[source] serde_json::Error),
}

impl ResponseError for ExtractError {
    fn status_code(&self) -> ActixStatus {
        match self {
            Self::MissingMiddleware(_) => ActixStatus::INTERNAL_SERVER_ERROR,
            Self::Body(_) => ActixStatus::BAD_REQUEST,
            Self::Json(_) => ActixStatus::UNPROCESSABLE_ENTITY,
        }
    }
}

impl FromRequest for Verified<'static> {
    type Error = MissingMiddleware;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Verified<'static>>()
                .cloned()
                .ok_or(MissingMiddleware),
        )
    }
}

/// The raw body and the [`Verified`] value, for handlers behind a [`WebhookMiddleware`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifiedBody {
    /// What the verifier found.
    pub verified: Verified<'static>,
    /// The exact bytes that were verified.
    pub body: Bytes,
}

impl FromRequest for VerifiedBody {
    type Error = ExtractError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let verified = req.extensions().get::<Verified<'static>>().cloned();
        let mut payload = payload.take();
        Box::pin(async move {
            let verified = verified.ok_or(MissingMiddleware)?;
            // The middleware already bounded and buffered the body.
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                body.extend_from_slice(&chunk.map_err(ExtractError::Body)?);
            }
            Ok(Self {
                verified,
                body: body.freeze(),
            })
        })
    }
}

/// The verified body deserialized as JSON into `T`, for handlers behind a
/// [`WebhookMiddleware`]. A mismatch is answered 422 (the sender will retry: make `T` tolerant).
#[derive(Debug, Clone)]
#[allow(clippy::exhaustive_structs)] // A newtype meant to be destructured.
pub struct WebhookJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for WebhookJson<T> {
    type Error = ExtractError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = VerifiedBody::from_request(req, payload);
        Box::pin(async move {
            let VerifiedBody { body, .. } = body.await?;
            serde_json::from_slice(&body)
                .map(WebhookJson)
                .map_err(ExtractError::Json)
        })
    }
}
