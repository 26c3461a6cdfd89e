//! Mounts one axum route per endpoint of a configuration file (`examples/endpoints.json`):
//! each names its provider from the catalog, its keys, and its settings. Then sends each route
//! a delivery signed as its provider would, and a tampered one, over loopback.
//!
//! Run: `cargo run --example mount [path/to/endpoints.json]`

use std::collections::BTreeMap;

use axum::Router;
use axum::routing::post;
use webhook_receiver::axum::{VerifiedBody, WebhookLayer};
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::testing::Signer;
use webhook_receiver::{EndpointConfig, KeyConfig};

#[derive(serde::Deserialize)]
struct File {
    endpoints: BTreeMap<String, EndpointConfig>,
}

async fn handle(delivery: VerifiedBody) -> String {
    let verified = &delivery.verified;
    format!(
        "{} delivery, key {:?}, {} bytes",
        verified.scheme(),
        verified.key_label(),
        delivery.body.len()
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/examples/endpoints.json").into());
    let file: File = serde_json::from_str(&std::fs::read_to_string(&path)?)?;

    // One store for every endpoint: their default namespaces keep them apart.
    let store = MemoryStore::new();
    let mut app = Router::new();
    for (route, config) in &file.endpoints {
        if !route.starts_with('/') {
            return Err(format!("route {route:?} in {path}: a route starts with `/`").into());
        }
        let receiver = config.receiver(store.clone())?;
        println!(
            "{route:<20} {:<8} namespace {}",
            config.provider,
            receiver.namespace()
        );
        app = app.route(route, post(handle).layer(WebhookLayer::new(receiver)));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Sign a delivery for each endpoint with its first key, as its provider would.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut all_ok = true;
    for (route, config) in &file.endpoints {
        let key = match config.keys.first() {
            Some(KeyConfig::Plain(value) | KeyConfig::Value { value, .. }) => value.clone(),
            // A key from the environment, or keys fetched at run time (SNS, PayPal, Plaid):
            // nothing here to sign with.
            _ => {
                println!("{route:<20} not sent: no key written in the file to sign with");
                continue;
            }
        };
        let body: &[u8] = if config.provider == "twilio" {
            b"MessageSid=SM1&Body=hello"
        } else {
            br#"{"id":"evt_1","action":"opened"}"#
        };
        let mut signer = Signer::new(config.scheme()?, &key)?;
        if let Some(webhook_receiver::PublicUrlConfig::Base(base)) = &config.public_url {
            signer = signer.url(format!("{base}{route}"));
        }
        let signed = signer.sign_request(body)?;
        for (what, body, want) in [
            ("signed", signed.body.clone(), 200),
            ("tampered", b"x".to_vec(), 401),
        ] {
            let response = client
                .post(format!("http://{addr}{route}"))
                .headers(signed.headers.clone())
                .body(body)
                .send()
                .await?;
            let status = response.status().as_u16();
            all_ok &= status == want;
            println!(
                "{route:<20} {what:<9} → {status} {}",
                response.text().await?
            );
        }
    }
    if !all_ok {
        return Err("a route did not answer as expected".into());
    }
    Ok(())
}
