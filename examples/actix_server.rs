//! A realistic actix-web receiver: secrets from the environment, several providers on several
//! routes, payloads deserialized into typed structs only after verification, one dedup store
//! shared by all routes, tracing to stderr.
//!
//! ```text
//! STRIPE_WEBHOOK_SECRET=whsec_… SLACK_SIGNING_SECRET=… SHOPIFY_CLIENT_SECRET=… \
//!     cargo run --example actix_server --features actix-web,tracing
//! ```
//!
//! Every variable is optional, but at least one must be set; routes without a secret are not
//! mounted. `BIND` (default `127.0.0.1:3000`) sets the address.

use std::process::ExitCode;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;
use webhook_receiver::actix::{VerifiedBody, WebhookJson, WebhookMiddleware};
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::providers::{Scheme, Shopify, Slack, Stripe};
use webhook_receiver::{Receiver, Verifier};

#[derive(Debug, Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

/// Slack's Events API envelope (the URL-verification challenge shares it).
#[derive(Debug, Deserialize)]
struct SlackEnvelope {
    #[serde(rename = "type")]
    kind: String,
    challenge: Option<String>,
    event_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ShopifyOrder {
    id: u64,
    #[serde(default)]
    email: Option<String>,
}

async fn stripe(WebhookJson(event): WebhookJson<StripeEvent>) -> HttpResponse {
    tracing::info!(id = %event.id, kind = %event.kind, "stripe event");
    HttpResponse::Ok().finish()
}

async fn slack(body: VerifiedBody) -> HttpResponse {
    // Slash commands are form-encoded; the Events API is JSON.
    match serde_json::from_slice::<SlackEnvelope>(&body.body) {
        Ok(SlackEnvelope {
            challenge: Some(challenge),
            ..
        }) => HttpResponse::Ok()
            .content_type("text/plain")
            .body(challenge),
        Ok(envelope) => {
            tracing::info!(kind = %envelope.kind, event_id = ?envelope.event_id, "slack event");
            HttpResponse::Ok().finish()
        }
        Err(_) => {
            tracing::info!(bytes = body.body.len(), "slack command or interaction");
            HttpResponse::Ok().finish()
        }
    }
}

async fn shopify(WebhookJson(order): WebhookJson<ShopifyOrder>) -> HttpResponse {
    tracing::info!(id = order.id, email = ?order.email, "shopify order");
    HttpResponse::Ok().finish()
}

fn middleware(
    scheme: impl Scheme,
    var: &str,
    store: &MemoryStore,
) -> Result<Option<WebhookMiddleware>, String> {
    let Ok(secret) = std::env::var(var) else {
        return Ok(None);
    };
    let verifier = Verifier::builder(scheme)
        .secret(secret.trim())
        .build()
        .map_err(|e| format!("{var}: {e}"))?;
    Ok(Some(WebhookMiddleware::new(Receiver::new(
        verifier,
        store.clone(),
    ))))
}

#[actix_web::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,webhook_receiver=debug".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let store = MemoryStore::new();
    let routes = (|| -> Result<_, String> {
        Ok((
            middleware(Stripe::new(), "STRIPE_WEBHOOK_SECRET", &store)?,
            middleware(Slack::new(), "SLACK_SIGNING_SECRET", &store)?,
            middleware(Shopify::new(), "SHOPIFY_CLIENT_SECRET", &store)?,
        ))
    })();
    let (stripe_mw, slack_mw, shopify_mw) = match routes {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if stripe_mw.is_none() && slack_mw.is_none() && shopify_mw.is_none() {
        eprintln!(
            "error: set at least one of STRIPE_WEBHOOK_SECRET, SLACK_SIGNING_SECRET, SHOPIFY_CLIENT_SECRET"
        );
        return ExitCode::FAILURE;
    }
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let server = HttpServer::new(move || {
        let mut app = App::new();
        if let Some(mw) = &stripe_mw {
            app = app.service(
                web::resource("/webhooks/stripe")
                    .wrap(mw.clone())
                    .route(web::post().to(stripe)),
            );
        }
        if let Some(mw) = &slack_mw {
            app = app.service(
                web::resource("/webhooks/slack")
                    .wrap(mw.clone())
                    .route(web::post().to(slack)),
            );
        }
        if let Some(mw) = &shopify_mw {
            app = app.service(
                web::resource("/webhooks/shopify")
                    .wrap(mw.clone())
                    .route(web::post().to(shopify)),
            );
        }
        app
    });
    let server = match server.bind(&bind) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot bind {bind}: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%bind, "listening");
    match server.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
