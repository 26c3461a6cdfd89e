//! The edge check as actix-web middleware (features `edge` and `actix-web`).

use std::fmt;
use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::HttpMessage;
use actix_web::HttpResponse;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use futures_util::TryFutureExt;
use futures_util::future::{Either, MapOk};
use http::{HeaderMap, HeaderValue};

use super::EdgePolicy;
use crate::adapter::Render;

/// Checks an [`EdgePolicy`] before anything else runs: resolves the client address from
/// `ServiceRequest::peer_addr` (and, behind trusted proxies, the configured header), answers
/// 403 — without reading the body — when it is outside the allowlist, and otherwise puts the
/// [`ClientIp`](crate::edge::ClientIp) in the request extensions (`web::ReqData<ClientIp>` in
/// handlers) and calls the inner service. A request without a peer address (a Unix socket)
/// is refused with 500, never let through unchecked.
///
/// Never use actix-web's `ConnectionInfo::realip_remote_addr` for this: it believes
/// `Forwarded` / `X-Forwarded-For` from anyone.
///
/// Put it outermost: in front of the rate limiter, which keys on the resolved
/// [`ClientIp`](crate::edge::ClientIp), in front of the
/// [`WebhookMiddleware`](crate::actix::WebhookMiddleware). In actix-web, the middleware
/// wrapped last runs first:
///
/// ```no_run
/// use actix_web::{App, HttpServer, web};
/// use webhook_receiver::actix::{EdgeMiddleware, VerifiedBody, WebhookMiddleware};
/// use webhook_receiver::edge::{ClientIpSource, EdgePolicy, IpSet};
/// use webhook_receiver::{Receiver, Verifier, dedup::MemoryStore, providers::Stripe};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::builder(Stripe::new()).secret("whsec_test_secret").build()?;
/// let receiver = Receiver::new(verifier, MemoryStore::new());
/// let policy = EdgePolicy::new(ClientIpSource::connection()).allow(IpSet::stripe_webhooks())?;
/// HttpServer::new(move || {
///     App::new().service(
///         web::resource("/webhooks/stripe")
///             .wrap(WebhookMiddleware::new(receiver.clone()))
///             .wrap(EdgeMiddleware::new(policy.clone())) // runs first
///             .route(web::post().to(|_: VerifiedBody| async { "ok" })),
///     )
/// })
/// .bind("0.0.0.0:3000")?
/// .run()
/// .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct EdgeMiddleware {
    policy: Arc<EdgePolicy>,
}

impl EdgeMiddleware {
    /// Middleware that checks `policy`.
    pub fn new(policy: EdgePolicy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }
}

impl fmt::Debug for EdgeMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeMiddleware")
            .field("policy", &self.policy)
            .finish()
    }
}

impl<S, B> Transform<S, ServiceRequest> for EdgeMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = EdgeMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(EdgeMiddlewareService {
            service,
            policy: Arc::clone(&self.policy),
        }))
    }
}

/// The service [`EdgeMiddleware`] produces.
pub struct EdgeMiddlewareService<S> {
    service: S,
    policy: Arc<EdgePolicy>,
}

impl<S> fmt::Debug for EdgeMiddlewareService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeMiddlewareService")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

type LeftBody<B> = fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>;

impl<S, B> Service<ServiceRequest> for EdgeMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Either<
        futures_util::future::Ready<Result<Self::Response, Self::Error>>,
        MapOk<S::Future, LeftBody<B>>,
    >;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // actix-web 4 speaks `http` 0.2: copy only the header the source reads.
        let mut headers = HeaderMap::new();
        if let Some(name) = self.policy.source().header_name() {
            for value in req.headers().get_all(name.as_str()) {
                if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
                    headers.append(name.clone(), value);
                }
            }
        }
        let peer = req.peer_addr().map(|addr| addr.ip());
        match self.policy.check(peer, &headers) {
            Ok(client) => {
                req.extensions_mut().insert(client);
                let left: LeftBody<B> = ServiceResponse::map_into_left_body;
                Either::Right(self.service.call(req).map_ok(left))
            }
            Err(refusal) => {
                refusal.log();
                let response = HttpResponse::text(refusal.status(), refusal.public_message(), None);
                let response = req.into_response(response).map_into_right_body();
                Either::Left(futures_util::future::ready(Ok(response)))
            }
        }
    }
}
