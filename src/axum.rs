//! axum 0.8 adapter: a tower [`Layer`] that wraps any route or router, and extractors.
//!
//! The layer reads the body up to the verifier's limit, verifies it, claims the delivery, and
//! calls the wrapped service with the body handed on and the [`Verified`] value in the request
//! extensions. A 2xx response completes the claim; anything else — another status, an error, a
//! dropped future, a panic — releases it, so the sender's retry is processed. Statuses follow
//! DESIGN §3:
//!
//! | outcome | status |
//! | --- | --- |
//! | new, handler answered | the handler's |
//! | duplicate, already processed | 200, handler not called |
//! | duplicate, still in flight | 409 + `Retry-After` |
//! | missing / malformed header | 400 |
//! | bad signature, timestamp outside tolerance | 401 |
//! | body over the limit | 413 |
//! | store unavailable | 503 + `Retry-After` |
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

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;
use tower_layer::Layer;
use tower_service::Service;

pub use crate::adapter::Rejection;
use crate::adapter::{self, Config, ReleaseOnDrop};
use crate::dedup::{DedupStore, MemoryStore};
use crate::{Outcome, Receiver, Verified};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl IntoResponse for Rejection {
    /// The DESIGN §3 status, `Retry-After` where it applies, and a short plain-text body that
    /// does not say why (the reason goes to the logs).
    fn into_response(self) -> Response {
        default_rejection(&self)
    }
}

fn default_rejection(rejection: &Rejection) -> Response {
    let mut response = (rejection.status(), rejection.public_message()).into_response();
    if let Some(after) = rejection.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, adapter::retry_after_value(after));
    }
    response
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
    /// the DESIGN §3 status with a short plain-text body. Keep the status: senders retry on it.
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
        let layer = self.layer.clone();
        let span = adapter::delivery_span(layer.config.receiver.verifier().scheme().name());
        let fut = handle(inner, layer, req);
        Box::pin(adapter::instrument(fut, span))
    }
}

async fn handle<S, St, B>(
    mut inner: S,
    layer: WebhookLayer<St>,
    req: http::Request<B>,
) -> Result<Response, Infallible>
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
    St: DedupStore,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let config = &layer.config;
    let reject = |rejection: Rejection| -> Result<Response, Infallible> {
        Ok(config.reject(rejection, default_rejection))
    };
    let receiver = &config.receiver;
    let limit = receiver.verifier().body_limit();
    let (parts, body) = req.into_parts();
    if adapter::content_length_exceeds(&parts.headers, limit) {
        return reject(Rejection::body_too_large(limit));
    }
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return reject(Rejection::body_too_large(limit));
        }
        Err(e) => return reject(Rejection::BodyRead(e)),
    };

    let delivery = match receiver.receive(&parts.headers, &bytes).await {
        Ok(Outcome::New(delivery)) => delivery,
        Ok(Outcome::Duplicate(verified)) => {
            adapter::record(&verified, "duplicate");
            return Ok(adapter::DUPLICATE.into_response());
        }
        Ok(Outcome::InFlight {
            verified,
            retry_after,
        }) => {
            adapter::record(&verified, "in_flight");
            let mut response = (StatusCode::CONFLICT, adapter::IN_FLIGHT_BODY).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, adapter::retry_after_value(retry_after));
            return Ok(response);
        }
        Err(e) => return reject(Rejection::Receive(e)),
    };
    adapter::record(delivery.verified(), "new");

    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(delivery.verified().clone());
    let guard = ReleaseOnDrop::new(delivery);
    let Ok(response) = inner.call(req).await;
    let response = response.into_response();
    adapter::finish(guard.into_inner(), response.status().is_success()).await;
    Ok(response)
}

/// The raw body and the [`Verified`] value, for handlers behind a [`WebhookLayer`].
///
/// Rejects with 500 if the layer is missing (a wiring mistake, not a sender's).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifiedBody {
    /// What the verifier found.
    pub verified: Verified<'static>,
    /// The exact bytes that were verified.
    pub body: Bytes,
}

/// A handler extractor used without a [`WebhookLayer`] in front of it.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("no WebhookLayer wraps this route")]
#[non_exhaustive]
pub struct MissingLayer;

impl IntoResponse for MissingLayer {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, "webhook layer missing").into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Verified<'static> {
    type Rejection = MissingLayer;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Verified<'static>>()
            .cloned()
            .ok_or(MissingLayer)
    }
}

impl<S: Send + Sync> FromRequest<S> for VerifiedBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let verified = Verified::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        // The layer already enforced the limit and buffered the body: this is a copy-free move.
        let body = body
            .collect()
            .await
            .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()).into_response())?
            .to_bytes();
        Ok(Self { verified, body })
    }
}

/// The verified body deserialized as JSON into `T`, for handlers behind a [`WebhookLayer`].
///
/// A body that is authentic but does not match `T` is answered 422 — the sender will retry, so
/// make `T` tolerant (`#[serde(default)]`, unknown fields ignored) for events you do not handle.
#[derive(Debug, Clone)]
#[allow(clippy::exhaustive_structs)] // A newtype meant to be destructured.
pub struct WebhookJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for WebhookJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let VerifiedBody { body, .. } = VerifiedBody::from_request(req, state).await?;
        serde_json::from_slice(&body).map(WebhookJson).map_err(|_e| {
            adapter::log_warn!(error = %_e, "verified webhook body does not match the handler's type");
            (StatusCode::UNPROCESSABLE_ENTITY, "unexpected payload").into_response()
        })
    }
}

/// `Retry-After` header value helper re-exported for custom rejection responses.
pub fn retry_after(after: std::time::Duration) -> HeaderValue {
    adapter::retry_after_value(after)
}
