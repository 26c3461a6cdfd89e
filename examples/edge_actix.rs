//! Edge protections on an actix-web resource, on a fresh machine: Stripe's webhook addresses as
//! an allowlist, the client address resolved behind a trusted proxy, and actix-governor keyed
//! by the resolved address — all in front of the webhook middleware, so that what they refuse
//! is never read nor verified.
//!
//! ```text
//! cargo run --example edge_actix --features edge,actix-web
//! ```
//!
//! A server starts on loopback; this program then plays the load balancer in front of it (at
//! 127.0.0.1, the one trusted proxy) and sends deliveries "from" the addresses it writes in
//! `X-Forwarded-For`, printing what each one got. It exits when done.
//!
//! actix-governor is licensed GPL-3.0-or-later; this crate uses it only here and in tests.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use actix_governor::{Governor, GovernorConfigBuilder, KeyExtractor, SimpleKeyExtractionError};
use actix_web::dev::ServiceRequest;
use actix_web::{App, HttpMessage, HttpResponse, HttpServer, web};
use http::HeaderMap;
use webhook_receiver::actix::{EdgeMiddleware, WebhookJson, WebhookMiddleware};
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::edge::{ClientIp, ClientIpSource, EdgePolicy, IpSet};
use webhook_receiver::providers::Stripe;
use webhook_receiver::testing::Signer;
use webhook_receiver::{Receiver, Verifier};

const SECRET: &str = "whsec_test_secret";

/// actix-governor's key: the client address `EdgeMiddleware` resolved (it runs first). Not
/// actix-governor's `PeerIpKeyExtractor` behind a proxy: every client would share the proxy's.
#[derive(Clone)]
struct ByClientIp;

impl KeyExtractor for ByClientIp {
    type Key = IpAddr;
    type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

    fn extract(&self, req: &ServiceRequest) -> Result<IpAddr, Self::KeyExtractionError> {
        req.extensions()
            .get::<ClientIp>()
            .map(ClientIp::limit_key)
            .ok_or_else(|| SimpleKeyExtractionError::new("EdgeMiddleware must run first"))
    }
}

#[derive(serde::Deserialize)]
struct Event {
    id: String,
}

async fn on_stripe(client: web::ReqData<ClientIp>, event: WebhookJson<Event>) -> HttpResponse {
    tracing::info!(client = %*client, id = %event.0.id, "stripe event");
    HttpResponse::Ok().body("handled")
}

#[actix_web::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,edge_actix=info".into()),
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
    let verifier = Verifier::builder(Stripe::new()).secret(SECRET).build()?;
    let receiver = Receiver::new(verifier, MemoryStore::new());
    // The load balancer is at 127.0.0.1; in production, its subnet.
    let proxies = IpSet::parse(["127.0.0.1"])?;
    let policy = EdgePolicy::new(ClientIpSource::x_forwarded_for(proxies)?)
        .allow(IpSet::stripe_webhooks())?;
    // Three requests at once per client, then one per second.
    let limits = GovernorConfigBuilder::default()
        .key_extractor(ByClientIp)
        .seconds_per_request(1)
        .burst_size(3)
        .finish()
        .ok_or("invalid rate limits")?;
    let server = HttpServer::new(move || {
        App::new().service(
            web::resource("/webhooks/stripe")
                // The middleware wrapped last runs first.
                .wrap(WebhookMiddleware::new(receiver.clone())) // read, verify, deduplicate
                .wrap(Governor::new(&limits)) // 429 past the rate
                .wrap(EdgeMiddleware::new(policy.clone())) // 403 outside the allowlist
                .route(web::post().to(on_stripe)),
        )
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let url = format!("http://{addr}/webhooks/stripe");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
    let signed = Signer::new(Stripe::new(), SECRET)?.sign(body)?;
    let mut forged = HeaderMap::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let forgery = format!("t={},v1={}", now.as_secs(), "0".repeat(64));
    forged.insert("stripe-signature", forgery.parse()?);
    let cases: Vec<(&str, &str, &HeaderMap)> = vec![
        ("3.18.12.63", "signed, from a Stripe address", &signed),
        ("198.51.100.7", "signed, from elsewhere", &signed),
        (
            "3.18.12.63, 198.51.100.7",
            "a Stripe address written on the left by the client",
            &signed,
        ),
        (
            "54.187.174.169",
            "forged, from a Stripe address (1)",
            &forged,
        ),
        (
            "54.187.174.169",
            "forged, from a Stripe address (2)",
            &forged,
        ),
        (
            "54.187.174.169",
            "forged, from a Stripe address (3)",
            &forged,
        ),
        (
            "54.187.174.169",
            "forged, from a Stripe address (4)",
            &forged,
        ),
    ];
    println!("{:<28} {:<53} answer", "X-Forwarded-For", "request");
    for (xff, what, headers) in cases {
        let response = http
            .post(&url)
            .headers(headers.clone())
            .header("x-forwarded-for", xff)
            .body(&body[..])
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        let status = response.status().as_u16();
        let meaning = match status {
            200 => "verified and handled",
            400 | 401 => "read and verified: rejected",
            403 => "refused before reading the body",
            429 => "rate limited before reading the body",
            _ => "unexpected",
        };
        println!("{xff:<28} {what:<53} {status} {meaning}");
    }
    println!(
        "Stripe addresses as of {}",
        webhook_receiver::edge::STRIPE_WEBHOOKS_AS_OF
    );
    handle.stop(true).await;
    Ok(())
}
