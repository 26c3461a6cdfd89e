//! Edge protections on an axum route, on a fresh machine: the client address resolved behind
//! a trusted proxy, GitHub's webhook ranges as an allowlist, and tower_governor keyed by the
//! resolved address — all in front of the webhook layer, so that what they refuse is never
//! read nor verified.
//!
//! ```text
//! cargo run --example edge --features axum-edge
//! ```
//!
//! A server starts on loopback; this program then plays the load balancer in front of it (at
//! 127.0.0.1, the one trusted proxy) and sends deliveries "from" the addresses it writes in
//! `X-Forwarded-For`, printing what each one got. It exits when done.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Extension;
use axum::routing::post;
use http::HeaderMap;
use tower::ServiceBuilder;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};
use webhook_receiver::axum::{EdgeLayer, VerifiedBody, WebhookLayer};
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::edge::{ClientIp, ClientIpSource, EdgePolicy, IpSet};
use webhook_receiver::providers::GitHub;
use webhook_receiver::testing::Signer;
use webhook_receiver::{Receiver, Verifier};

const SECRET: &str = "It's a Secret to Everybody";

/// tower_governor's key: the client address `EdgeLayer` resolved (it runs first). Never
/// tower_governor's `SmartIpKeyExtractor`: it believes the leftmost `X-Forwarded-For` entry,
/// which the client writes.
#[derive(Clone)]
struct ByClientIp;

impl KeyExtractor for ByClientIp {
    type Key = IpAddr;

    fn extract<T>(&self, req: &http::Request<T>) -> Result<IpAddr, GovernorError> {
        req.extensions()
            .get::<ClientIp>()
            .map(ClientIp::limit_key)
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

async fn on_github(
    Extension(client): Extension<ClientIp>,
    handled: Extension<Arc<AtomicUsize>>,
    delivery: VerifiedBody,
) -> &'static str {
    handled.fetch_add(1, Ordering::SeqCst);
    tracing::info!(client = %client, bytes = delivery.body.len(), "github delivery");
    "handled"
}

async fn serve() -> Result<(SocketAddr, Arc<AtomicUsize>), Box<dyn std::error::Error>> {
    let verifier = Verifier::builder(GitHub::new()).secret(SECRET).build()?;
    let receiver = Receiver::new(verifier, MemoryStore::new());
    // The load balancer is at 127.0.0.1; in production, its subnet (say 10.0.0.0/8).
    let proxies = IpSet::parse(["127.0.0.1"])?;
    let policy =
        EdgePolicy::new(ClientIpSource::x_forwarded_for(proxies)?).allow(IpSet::github_hooks())?;
    // Three requests at once per client, then one per second.
    let limits = GovernorConfigBuilder::default()
        .key_extractor(ByClientIp)
        .per_second(1)
        .burst_size(3)
        .finish()
        .ok_or("invalid rate limits")?;
    let limits = Arc::new(limits);
    let limiter = Arc::clone(&limits);
    tokio::spawn(async move {
        // Forget clients that went quiet, so the limiter's memory stays bounded.
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            limiter.limiter().retain_recent();
        }
    });
    let handled = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/webhooks/github",
            post(on_github).layer(
                ServiceBuilder::new()
                    .layer(EdgeLayer::new(policy)) // 403 outside the allowlist
                    .layer(GovernorLayer::new(limits)) // 429 past the rate
                    .layer(WebhookLayer::new(receiver)), // read, verify, deduplicate
            ),
        )
        .layer(Extension(Arc::clone(&handled)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Without `into_make_service_with_connect_info`, the edge layer answers 500: it cannot
    // know who connected.
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    Ok((addr, handled))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,edge=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (addr, handled) = serve().await?;
    let url = format!("http://{addr}/webhooks/github");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = br#"{"zen":"Keep it logically awesome."}"#;
    let signed = Signer::new(GitHub::new(), SECRET)?.sign(body)?;
    let mut forged = HeaderMap::new();
    forged.insert(
        "x-hub-signature-256",
        format!("sha256={}", "0".repeat(64)).parse()?,
    );

    let cases: Vec<(&str, &str, &HeaderMap)> = vec![
        (
            "192.30.252.10",
            "signed, from GitHub's hooks range",
            &signed,
        ),
        ("198.51.100.7", "signed, from outside the range", &signed),
        (
            "192.30.252.10, 198.51.100.7",
            "a GitHub address written on the left by the client",
            &signed,
        ),
        ("140.82.112.5", "forged, from GitHub's range (1)", &forged),
        ("140.82.112.5", "forged, from GitHub's range (2)", &forged),
        ("140.82.112.5", "forged, from GitHub's range (3)", &forged),
        ("140.82.112.5", "forged, from GitHub's range (4)", &forged),
        ("140.82.112.5", "forged, from GitHub's range (5)", &forged),
    ];
    println!("{:<30} {:<54} answer", "X-Forwarded-For", "request");
    for (xff, what, headers) in cases {
        let response = http
            .post(&url)
            .headers(headers.clone())
            .header("x-forwarded-for", xff)
            .body(&body[..])
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        let status = response.status();
        let meaning = match status.as_u16() {
            200 => "verified and handled",
            401 => "read and verified: bad signature",
            403 => "refused before reading the body",
            429 => "rate limited before reading the body",
            _ => "unexpected",
        };
        println!("{xff:<30} {what:<54} {} {meaning}", status.as_u16());
    }
    println!(
        "handler ran {} time(s); GitHub ranges as of {}",
        handled.load(Ordering::SeqCst),
        webhook_receiver::edge::GITHUB_HOOKS_AS_OF
    );
    Ok(())
}
