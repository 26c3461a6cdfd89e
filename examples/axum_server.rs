//! A realistic axum receiver: secrets from the environment, several providers on several routes,
//! payloads deserialized into typed structs only after verification, one dedup store shared by
//! all routes, tracing to stderr.
//!
//! ```text
//! STRIPE_WEBHOOK_SECRET=whsec_… GITHUB_WEBHOOK_SECRET=… SVIX_WEBHOOK_SECRET=whsec_… \
//!     cargo run --example axum_server --features tracing
//! ```
//!
//! Every variable is optional, but at least one must be set; routes without a secret are not
//! mounted. `BIND` (default `127.0.0.1:3000`) sets the address. Try it with the `send` example:
//!
//! ```text
//! cargo run --example send -- --provider stripe --secret "$STRIPE_WEBHOOK_SECRET" \
//!     --url http://127.0.0.1:3000/webhooks/stripe --body event.json
//! ```

use std::process::ExitCode;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use webhook_receiver::axum::{WebhookJson, WebhookLayer};
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::providers::{GitHub, Scheme, StandardWebhooks, Stripe};
use webhook_receiver::{Receiver, Verified, Verifier};

/// The part of a Stripe event this service uses; unknown fields are ignored.
#[derive(Debug, Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

/// A GitHub push (other events deserialize too: every field is optional).
#[derive(Debug, Deserialize)]
struct GitHubEvent {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    action: Option<String>,
    repository: Option<Repository>,
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
}

/// Standard Webhooks recommends a `type` field and a `data` object.
#[derive(Debug, Deserialize)]
struct StandardEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: serde_json::Value,
}

async fn stripe(WebhookJson(event): WebhookJson<StripeEvent>) -> StatusCode {
    tracing::info!(id = %event.id, kind = %event.kind, "stripe event");
    // Returning a non-2xx here releases the claim: Stripe retries and the retry is processed.
    StatusCode::OK
}

async fn github(
    verified: Verified<'static>,
    WebhookJson(event): WebhookJson<GitHubEvent>,
) -> StatusCode {
    let repo = event.repository.map(|r| r.full_name).unwrap_or_default();
    tracing::info!(
        dedup_key = %verified.dedup_key(),
        git_ref = event.git_ref.as_deref().unwrap_or("-"),
        action = event.action.as_deref().unwrap_or("-"),
        %repo,
        "github event"
    );
    StatusCode::NO_CONTENT
}

async fn standard(
    verified: Verified<'static>,
    WebhookJson(event): WebhookJson<StandardEvent>,
) -> StatusCode {
    tracing::info!(
        id = verified.event_id().as_deref().unwrap_or("-"),
        kind = %event.kind,
        secret = verified.key_label().unwrap_or("-"),
        data = %event.data,
        "standard webhooks event"
    );
    StatusCode::OK
}

/// A layer for `scheme` with the secrets in `var` (comma-separated: the first is labelled
/// `current`, the next `previous`, for rotation), or `None` if the variable is unset.
fn layer(
    scheme: impl Scheme,
    var: &str,
    store: &MemoryStore,
) -> Result<Option<WebhookLayer>, Box<dyn std::error::Error>> {
    let Ok(secrets) = std::env::var(var) else {
        return Ok(None);
    };
    let mut builder = Verifier::builder(scheme);
    for (i, secret) in secrets.split(',').enumerate() {
        let label = if i == 0 { "current" } else { "previous" };
        builder = builder.labeled_secret(label, secret.trim());
    }
    let verifier = builder.build().map_err(|e| format!("{var}: {e}"))?;
    Ok(Some(WebhookLayer::new(Receiver::new(
        verifier,
        store.clone(),
    ))))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,webhook_receiver=debug".into()),
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
    let store = MemoryStore::new();
    let mut app = Router::new();
    let mut mounted = Vec::new();
    if let Some(l) = layer(Stripe::new(), "STRIPE_WEBHOOK_SECRET", &store)? {
        app = app.route("/webhooks/stripe", post(stripe).layer(l));
        mounted.push("/webhooks/stripe");
    }
    if let Some(l) = layer(GitHub::new(), "GITHUB_WEBHOOK_SECRET", &store)? {
        app = app.route("/webhooks/github", post(github).layer(l));
        mounted.push("/webhooks/github");
    }
    if let Some(l) = layer(StandardWebhooks::new(), "SVIX_WEBHOOK_SECRET", &store)? {
        app = app.route("/webhooks/standard", post(standard).layer(l));
        mounted.push("/webhooks/standard");
    }
    if mounted.is_empty() {
        return Err(
            "set at least one of STRIPE_WEBHOOK_SECRET, GITHUB_WEBHOOK_SECRET, SVIX_WEBHOOK_SECRET"
                .into(),
        );
    }
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    tracing::info!(addr = %listener.local_addr()?, routes = ?mounted, "listening");
    axum::serve(listener, app).await?;
    Ok(())
}
