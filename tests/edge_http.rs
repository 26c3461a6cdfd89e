//! The edge layers over real loopback HTTP, on both adapters: allowlist hits and misses (the
//! miss answered 403 before the body is read), the client address resolved through a trusted
//! proxy and spoofed headers ignored without one, IPv6 loopback, a server that does not
//! provide the connection's address, and a rate limiter (tower_governor / actix-governor)
//! between the edge layer and the webhook layer, keyed by the resolved address — whose
//! refusals never reach verification.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webhook_receiver::edge::{ClientIp, ClientIpSource, EdgePolicy, IpSet};
use webhook_receiver::providers::GitHub;
use webhook_receiver::testing::Signer;
use webhook_receiver::{Receiver, Verifier, dedup::MemoryStore};

const SECRET: &str = "It's a Secret to Everybody";

fn receiver() -> Receiver {
    let verifier = Verifier::builder(GitHub::new())
        .secret(SECRET)
        .build()
        .unwrap();
    Receiver::new(verifier, MemoryStore::new())
}

fn signed(body: &[u8]) -> HeaderMap {
    Signer::new(GitHub::new(), SECRET)
        .unwrap()
        .sign(body)
        .unwrap()
}

fn forged() -> HeaderMap {
    let mut headers = HeaderMap::new();
    let signature = format!("sha256={}", "0".repeat(64));
    headers.insert("x-hub-signature-256", signature.parse().unwrap());
    headers
}

fn loopback_only() -> EdgePolicy {
    EdgePolicy::default()
        .allow(IpSet::parse(["127.0.0.0/8", "::1"]).unwrap())
        .unwrap()
}

fn github_only() -> EdgePolicy {
    EdgePolicy::default().allow(IpSet::github_hooks()).unwrap()
}

/// Trusts loopback as the proxy: the tests play the proxy and write `X-Forwarded-For`.
fn behind_loopback_proxy() -> EdgePolicy {
    let loopback = IpSet::parse(["127.0.0.0/8", "::1"]).unwrap();
    EdgePolicy::new(ClientIpSource::x_forwarded_for(loopback).unwrap())
}

fn behind_other_proxy() -> EdgePolicy {
    let elsewhere = IpSet::parse(["10.0.0.0/8"]).unwrap();
    EdgePolicy::new(ClientIpSource::x_forwarded_for(elsewhere).unwrap())
}

struct Reply {
    status: u16,
    body: String,
}

async fn post(addr: SocketAddr, path: &str, headers: HeaderMap, body: &'static [u8]) -> Reply {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{addr}{path}"))
        .headers(headers)
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("loopback request");
    Reply {
        status: response.status().as_u16(),
        body: response.text().await.unwrap(),
    }
}

fn xff(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", value.parse().unwrap());
    headers
}

/// Sends headers declaring a 1000-byte body, then only 10 bytes, and reads the answer: a
/// server that waited for the body would never answer.
async fn status_without_sending_the_body(addr: SocketAddr, path: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\nx-hub-signature-256: sha256={}\r\n\r\n",
        "0".repeat(64)
    )
    .into_bytes();
    request.extend_from_slice(b"0123456789");
    stream.write_all(&request).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split_whitespace().nth(1).unwrap().parse().unwrap()
}

mod axum_edge {
    use super::*;

    use axum::extract::Request;
    use axum::middleware::{Next, from_fn};
    use axum::routing::post as route_post;
    use axum::{Extension, Router};
    use tower_governor::GovernorLayer;
    use tower_governor::governor::GovernorConfigBuilder;
    use tower_governor::key_extractor::KeyExtractor;
    use webhook_receiver::axum::{EdgeLayer, VerifiedBody, WebhookLayer};

    /// A tower_governor key: the address the edge layer resolved (it must run first).
    #[derive(Clone)]
    struct ByClientIp;

    impl KeyExtractor for ByClientIp {
        type Key = IpAddr;

        fn extract<T>(
            &self,
            req: &http::Request<T>,
        ) -> Result<IpAddr, tower_governor::GovernorError> {
            req.extensions()
                .get::<ClientIp>()
                .map(ClientIp::limit_key)
                .ok_or(tower_governor::GovernorError::UnableToExtractKey)
        }
    }

    async fn echo(Extension(client): Extension<ClientIp>) -> String {
        format!("{} {}", client.ip(), client.peer())
    }

    fn webhook_route(policy: EdgePolicy, handled: Arc<AtomicUsize>) -> Router {
        let handler = move |_: VerifiedBody| {
            handled.fetch_add(1, Ordering::SeqCst);
            async { "handled" }
        };
        Router::new().route(
            "/hook",
            route_post(handler)
                .layer(WebhookLayer::new(receiver()))
                .layer(EdgeLayer::new(policy)),
        )
    }

    fn echo_route(policy: EdgePolicy) -> Router {
        Router::new().route("/echo", route_post(echo).layer(EdgeLayer::new(policy)))
    }

    async fn serve(app: Router, bind: &str) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
        addr
    }

    #[tokio::test]
    async fn an_allowed_address_reaches_the_webhook_layer() {
        let handled = Arc::new(AtomicUsize::new(0));
        let addr = serve(
            webhook_route(loopback_only(), Arc::clone(&handled)),
            "127.0.0.1:0",
        )
        .await;
        let reply = post(addr, "/hook", signed(b"{}"), b"{}").await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "handled"));
        // Allowed but forged: the webhook layer still says no.
        assert_eq!(post(addr, "/hook", forged(), b"{}").await.status, 401);
        assert_eq!(handled.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refused_address_gets_403_before_the_body_is_read() {
        let handled = Arc::new(AtomicUsize::new(0));
        let addr = serve(
            webhook_route(github_only(), Arc::clone(&handled)),
            "127.0.0.1:0",
        )
        .await;
        let reply = post(addr, "/hook", signed(b"{}"), b"{}").await;
        assert_eq!((reply.status, reply.body.as_str()), (403, "forbidden"));
        assert_eq!(status_without_sending_the_body(addr, "/hook").await, 403);
        assert_eq!(handled.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn the_client_behind_a_trusted_proxy_is_the_rightmost_untrusted_hop() {
        let addr = serve(echo_route(behind_loopback_proxy()), "127.0.0.1:0").await;
        let reply = post(addr, "/echo", xff("192.30.252.1, 198.51.100.7"), b"").await;
        assert_eq!(reply.body, "198.51.100.7 127.0.0.1");
        let reply = post(addr, "/echo", xff("2001:db8::7, 127.0.0.5"), b"").await;
        assert_eq!(reply.body, "2001:db8::7 127.0.0.1");
    }

    #[tokio::test]
    async fn spoofed_headers_from_an_untrusted_peer_are_ignored() {
        let addr = serve(echo_route(behind_other_proxy()), "127.0.0.1:0").await;
        let reply = post(addr, "/echo", xff("192.30.252.1"), b"").await;
        assert_eq!(reply.body, "127.0.0.1 127.0.0.1");
        // And a spoofed GitHub address does not pass a GitHub allowlist.
        let policy = behind_other_proxy().allow(IpSet::github_hooks()).unwrap();
        let handled = Arc::new(AtomicUsize::new(0));
        let addr = serve(webhook_route(policy, Arc::clone(&handled)), "127.0.0.1:0").await;
        let mut headers = signed(b"{}");
        headers.extend(xff("192.30.252.1"));
        assert_eq!(post(addr, "/hook", headers, b"{}").await.status, 403);
        assert_eq!(handled.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn ipv6_loopback() {
        let addr = serve(echo_route(loopback_only()), "[::1]:0").await;
        let reply = post(addr, "/echo", HeaderMap::new(), b"").await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "::1 ::1"));
        let ipv4_only = EdgePolicy::default()
            .allow(IpSet::parse(["127.0.0.0/8"]).unwrap())
            .unwrap();
        let addr = serve(echo_route(ipv4_only), "[::1]:0").await;
        assert_eq!(post(addr, "/echo", HeaderMap::new(), b"").await.status, 403);
        // ::1 as the trusted proxy, an IPv6 client behind it.
        let addr = serve(echo_route(behind_loopback_proxy()), "[::1]:0").await;
        let reply = post(addr, "/echo", xff("2606:50c0::9"), b"").await;
        assert_eq!(reply.body, "2606:50c0::9 ::1");
    }

    #[tokio::test]
    async fn without_connect_info_every_request_is_refused_with_500() {
        let handled = Arc::new(AtomicUsize::new(0));
        let app = webhook_route(EdgePolicy::default(), Arc::clone(&handled));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Served without `into_make_service_with_connect_info`: no address to check.
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let reply = post(addr, "/hook", signed(b"{}"), b"{}").await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (500, "webhook receiver misconfigured")
        );
        assert_eq!(handled.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_limiter_between_the_edge_and_the_webhook_layer_spares_verification() {
        let verifications = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&verifications);
        let count = move |req: Request, next: Next| {
            counted.fetch_add(1, Ordering::SeqCst);
            next.run(req)
        };
        // Two requests per client, then one more per minute: nothing refills during the test.
        let config = GovernorConfigBuilder::default()
            .key_extractor(ByClientIp)
            .per_second(60)
            .burst_size(2)
            .finish()
            .unwrap();
        let app = Router::new().route(
            "/hook",
            route_post(|_: VerifiedBody| async { "handled" }).layer(
                // Outermost first.
                tower::ServiceBuilder::new()
                    .layer(EdgeLayer::new(behind_loopback_proxy()))
                    .layer(GovernorLayer::new(config))
                    .layer(from_fn(count))
                    .layer(WebhookLayer::new(receiver())),
            ),
        );
        let addr = serve(app, "127.0.0.1:0").await;
        let mut statuses = Vec::new();
        for _ in 0..5 {
            let mut headers = forged();
            headers.extend(xff("198.51.100.7"));
            statuses.push(post(addr, "/hook", headers, b"{}").await.status);
        }
        assert_eq!(statuses, [401, 401, 429, 429, 429]);
        assert_eq!(verifications.load(Ordering::SeqCst), 2);
        // Keyed by the resolved client, not by the proxy: another client has its own budget,
        // and a signed delivery from it goes through.
        let mut headers = signed(b"{}");
        headers.extend(xff("198.51.100.8"));
        let reply = post(addr, "/hook", headers, b"{}").await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "handled"));
        // One IPv6 /64 is one client.
        let mut statuses = Vec::new();
        for host in ["2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:1:ffff::3"] {
            let mut headers = forged();
            headers.extend(xff(host));
            statuses.push(post(addr, "/hook", headers, b"{}").await.status);
        }
        assert_eq!(statuses, [401, 401, 429]);
        assert_eq!(verifications.load(Ordering::SeqCst), 5);
    }
}

mod actix_edge {
    use super::*;

    use actix_governor::{Governor, GovernorConfigBuilder, KeyExtractor, SimpleKeyExtractionError};
    use actix_web::body::MessageBody;
    use actix_web::dev::{ServiceRequest, ServiceResponse};
    use actix_web::middleware::{Next, from_fn};
    use actix_web::{App, HttpMessage, HttpServer, web};
    use webhook_receiver::actix::{EdgeMiddleware, VerifiedBody, WebhookMiddleware};

    /// An actix-governor key: the address the edge middleware resolved (it must run first).
    #[derive(Clone)]
    struct ByClientIp;

    impl KeyExtractor for ByClientIp {
        type Key = IpAddr;
        type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

        fn extract(&self, req: &ServiceRequest) -> Result<IpAddr, Self::KeyExtractionError> {
            req.extensions()
                .get::<ClientIp>()
                .map(ClientIp::limit_key)
                .ok_or_else(|| SimpleKeyExtractionError::new("no client address"))
        }
    }

    async fn echo(client: web::ReqData<ClientIp>) -> String {
        format!("{} {}", client.ip(), client.peer())
    }

    /// Binds `server` to `bind` with one worker and runs it; the address it listens on.
    macro_rules! start {
        ($server:expr, $bind:expr) => {{
            let server = $server.workers(1).disable_signals().bind($bind).unwrap();
            let addr = server.addrs()[0];
            actix_web::rt::spawn(server.run());
            addr
        }};
    }

    fn serve_webhook(policy: EdgePolicy, handled: Arc<AtomicUsize>, bind: &str) -> SocketAddr {
        let receiver = receiver();
        let server = HttpServer::new(move || {
            let handled = Arc::clone(&handled);
            App::new().service(
                web::resource("/hook")
                    .wrap(WebhookMiddleware::new(receiver.clone()))
                    .wrap(EdgeMiddleware::new(policy.clone()))
                    .route(web::post().to(move |_: VerifiedBody| {
                        handled.fetch_add(1, Ordering::SeqCst);
                        async { "handled" }
                    })),
            )
        });
        start!(server, bind)
    }

    fn serve_echo(policy: EdgePolicy, bind: &str) -> SocketAddr {
        let server = HttpServer::new(move || {
            App::new().service(
                web::resource("/echo")
                    .wrap(EdgeMiddleware::new(policy.clone()))
                    .route(web::post().to(echo)),
            )
        });
        start!(server, bind)
    }

    #[actix_web::test]
    async fn an_allowed_address_reaches_the_webhook_middleware() {
        let handled = Arc::new(AtomicUsize::new(0));
        let addr = serve_webhook(loopback_only(), Arc::clone(&handled), "127.0.0.1:0");
        let reply = post(addr, "/hook", signed(b"{}"), b"{}").await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "handled"));
        assert_eq!(post(addr, "/hook", forged(), b"{}").await.status, 401);
        assert_eq!(handled.load(Ordering::SeqCst), 1);
    }

    #[actix_web::test]
    async fn a_refused_address_gets_403_before_the_body_is_read() {
        let handled = Arc::new(AtomicUsize::new(0));
        let addr = serve_webhook(github_only(), Arc::clone(&handled), "127.0.0.1:0");
        let reply = post(addr, "/hook", signed(b"{}"), b"{}").await;
        assert_eq!((reply.status, reply.body.as_str()), (403, "forbidden"));
        assert_eq!(status_without_sending_the_body(addr, "/hook").await, 403);
        assert_eq!(handled.load(Ordering::SeqCst), 0);
    }

    #[actix_web::test]
    async fn the_client_behind_a_trusted_proxy_is_the_rightmost_untrusted_hop() {
        let addr = serve_echo(behind_loopback_proxy(), "127.0.0.1:0");
        let reply = post(addr, "/echo", xff("192.30.252.1, 198.51.100.7"), b"").await;
        assert_eq!(reply.body, "198.51.100.7 127.0.0.1");
        // Two header lines are one list.
        let mut two = xff("192.30.252.1");
        two.append("x-forwarded-for", "2001:db8::7".parse().unwrap());
        let reply = post(addr, "/echo", two, b"").await;
        assert_eq!(reply.body, "2001:db8::7 127.0.0.1");
    }

    #[actix_web::test]
    async fn spoofed_headers_from_an_untrusted_peer_are_ignored() {
        let addr = serve_echo(behind_other_proxy(), "127.0.0.1:0");
        let reply = post(addr, "/echo", xff("192.30.252.1"), b"").await;
        assert_eq!(reply.body, "127.0.0.1 127.0.0.1");
        let policy = behind_other_proxy().allow(IpSet::github_hooks()).unwrap();
        let handled = Arc::new(AtomicUsize::new(0));
        let addr = serve_webhook(policy, Arc::clone(&handled), "127.0.0.1:0");
        let mut headers = signed(b"{}");
        headers.extend(xff("192.30.252.1"));
        assert_eq!(post(addr, "/hook", headers, b"{}").await.status, 403);
        assert_eq!(handled.load(Ordering::SeqCst), 0);
    }

    #[actix_web::test]
    async fn ipv6_loopback() {
        let addr = serve_echo(loopback_only(), "[::1]:0");
        let reply = post(addr, "/echo", HeaderMap::new(), b"").await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "::1 ::1"));
        let ipv4_only = EdgePolicy::default()
            .allow(IpSet::parse(["127.0.0.0/8"]).unwrap())
            .unwrap();
        let addr = serve_echo(ipv4_only, "[::1]:0");
        assert_eq!(post(addr, "/echo", HeaderMap::new(), b"").await.status, 403);
    }

    static VERIFICATIONS: AtomicUsize = AtomicUsize::new(0);

    async fn count(
        req: ServiceRequest,
        next: Next<impl MessageBody>,
    ) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
        VERIFICATIONS.fetch_add(1, Ordering::SeqCst);
        next.call(req).await
    }

    #[actix_web::test]
    async fn a_limiter_between_the_edge_and_the_webhook_middleware_spares_verification() {
        // Two requests per client, then one more per minute.
        let config = GovernorConfigBuilder::default()
            .key_extractor(ByClientIp)
            .seconds_per_request(60)
            .burst_size(2)
            .finish()
            .unwrap();
        let receiver = receiver();
        let server = HttpServer::new(move || {
            App::new().service(
                web::resource("/hook")
                    .wrap(WebhookMiddleware::new(receiver.clone()))
                    .wrap(from_fn(count))
                    .wrap(Governor::new(&config))
                    .wrap(EdgeMiddleware::new(behind_loopback_proxy()))
                    .route(web::post().to(|_: VerifiedBody| async { "handled" })),
            )
        });
        let addr = start!(server, "127.0.0.1:0");
        let mut statuses = Vec::new();
        for _ in 0..5 {
            let mut headers = forged();
            headers.extend(xff("198.51.100.7"));
            statuses.push(post(addr, "/hook", headers, b"{}").await.status);
        }
        assert_eq!(statuses, [401, 401, 429, 429, 429]);
        assert_eq!(VERIFICATIONS.load(Ordering::SeqCst), 2);
        let mut headers = signed(b"{}");
        headers.extend(xff("198.51.100.8"));
        let reply = post(addr, "/hook", headers, b"{}").await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "handled"));
        assert_eq!(VERIFICATIONS.load(Ordering::SeqCst), 3);
    }
}
