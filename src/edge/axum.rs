//! The edge check as a tower layer for axum (feature `axum-edge`).

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use axum_core::response::{IntoResponse, Response};
use futures_util::TryFutureExt;
use futures_util::future::{Either, MapOk, Ready, ready};
use tower_layer::Layer;
use tower_service::Service;

use super::EdgePolicy;
use crate::adapter::Render;

/// Checks an [`EdgePolicy`] before anything else runs: resolves the client address, answers
/// 403 — without reading the body — when it is outside the allowlist, and otherwise puts the
/// [`ClientIp`](crate::edge::ClientIp) in the request extensions and calls the inner service.
///
/// It needs the connection's address: serve the app with
/// `into_make_service_with_connect_info::<SocketAddr>()`. Without it every request is refused
/// with 500 and an error in the logs, never let through unchecked.
///
/// Put it outermost: in front of the rate limiter, which keys on the resolved
/// [`ClientIp`](crate::edge::ClientIp), in front of the [`WebhookLayer`](crate::axum::WebhookLayer).
/// With axum, the layer added last runs first:
///
/// ```no_run
/// use std::net::SocketAddr;
/// use axum::{Router, routing::post};
/// use webhook_receiver::axum::{EdgeLayer, VerifiedBody, WebhookLayer};
/// use webhook_receiver::edge::{ClientIpSource, EdgePolicy, IpSet};
/// use webhook_receiver::{Receiver, Verifier, dedup::MemoryStore, providers::GitHub};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::builder(GitHub::new()).secret("It's a Secret to Everybody").build()?;
/// let policy = EdgePolicy::new(ClientIpSource::connection()).allow(IpSet::github_hooks())?;
/// let app = Router::new().route(
///     "/webhooks/github",
///     post(|_: VerifiedBody| async { "ok" })
///         .layer(WebhookLayer::new(Receiver::new(verifier, MemoryStore::new())))
///         .layer(EdgeLayer::new(policy)), // runs first
/// );
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
/// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct EdgeLayer {
    policy: Arc<EdgePolicy>,
}

impl EdgeLayer {
    /// A layer that checks `policy`.
    pub fn new(policy: EdgePolicy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }
}

impl fmt::Debug for EdgeLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeLayer")
            .field("policy", &self.policy)
            .finish()
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = EdgeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EdgeService {
            inner,
            policy: Arc::clone(&self.policy),
        }
    }
}

/// The service [`EdgeLayer`] produces.
#[derive(Clone)]
pub struct EdgeService<S> {
    inner: S,
    policy: Arc<EdgePolicy>,
}

impl<S: fmt::Debug> fmt::Debug for EdgeService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeService")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish()
    }
}

type IntoResponseFn<R> = fn(R) -> Response;

impl<S, B> Service<http::Request<B>> for EdgeService<S>
where
    // Infallible, as every axum service: it also lets axum infer the error types of the
    // layers under this one.
    S: Service<http::Request<B>, Error = Infallible>,
    S::Response: IntoResponse,
{
    type Response = Response;
    type Error = Infallible;
    type Future =
        Either<Ready<Result<Response, Infallible>>, MapOk<S::Future, IntoResponseFn<S::Response>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        match self.policy.check(peer, req.headers()) {
            Ok(client) => {
                req.extensions_mut().insert(client);
                let into_response: IntoResponseFn<S::Response> = IntoResponse::into_response;
                Either::Right(self.inner.call(req).map_ok(into_response))
            }
            Err(refusal) => {
                refusal.log();
                let response = Response::text(refusal.status(), refusal.public_message(), None);
                Either::Left(ready(Ok(response)))
            }
        }
    }
}
