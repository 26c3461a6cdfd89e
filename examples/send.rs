//! Signs a body file as a provider would and POSTs it to a URL, for testing a receiver locally.
//! Prints the status and the response body; exits non-zero unless the status is 2xx.
//!
//! ```text
//! cargo run --example send -- --provider stripe --secret whsec_test_secret \
//!     --url http://127.0.0.1:3000/webhooks/stripe --body event.json
//! ```
//!
//! Options:
//!
//! * `--provider` any name of `providers::names()`: `stripe`, `github`, `twilio`, … (required)
//! * `--secret`   the secret as the provider shows it, or for providers that verify with a
//!   public key the private key (required; or env `WEBHOOK_SECRET`; `@path` reads a file, e.g.
//!   a PEM key)
//! * `--signed-url` the URL the provider signs, for Twilio, Square, HubSpot and the like
//!   (default: `--url`)
//! * `--url`      where to POST (required)
//! * `--body`     path of the body file, `-` for standard input (required)
//! * `--id`       event id for schemes that sign one (default: random)
//! * `--timestamp` Unix seconds to sign (default: now)
//! * `--header`   `name: value`, extra header, repeatable (e.g. `content-type: application/json`)

use std::io::Read;
use std::process::ExitCode;

use http::{HeaderName, HeaderValue};
use webhook_receiver::providers;
use webhook_receiver::testing::Signer;

const USAGE: &str = "usage: send --provider <name> --secret <secret|@file> --url <url> \
--body <file|-> [--signed-url <url>] [--id <id>] [--timestamp <unix>] [--header 'name: value']...
provider names: cargo run --example send -- --provider list";

#[derive(Default)]
struct Args {
    provider: Option<String>,
    secret: Option<String>,
    url: Option<String>,
    signed_url: Option<String>,
    body: Option<String>,
    id: Option<String>,
    timestamp: Option<i64>,
    headers: Vec<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--provider" => args.provider = Some(value),
            "--secret" => args.secret = Some(value),
            "--url" => args.url = Some(value),
            "--signed-url" => args.signed_url = Some(value),
            "--body" => args.body = Some(value),
            "--id" => args.id = Some(value),
            "--timestamp" => {
                args.timestamp = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--timestamp: `{value}` is not a Unix time"))?,
                )
            }
            "--header" => {
                let (name, v) = value
                    .split_once(':')
                    .ok_or_else(|| format!("--header: expected `name: value`, got `{value}`"))?;
                args.headers
                    .push((name.trim().to_owned(), v.trim().to_owned()));
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if args.secret.is_none() {
        args.secret = std::env::var("WEBHOOK_SECRET").ok();
    }
    Ok(args)
}

async fn run() -> Result<bool, String> {
    let args = parse_args()?;
    let required =
        |v: Option<String>, name: &str| v.ok_or_else(|| format!("{name} is required\n{USAGE}"));
    let provider = required(args.provider, "--provider")?;
    if provider == "list" {
        println!("{}", providers::names().collect::<Vec<_>>().join("\n"));
        return Ok(true);
    }
    let mut secret = required(args.secret, "--secret")?;
    if let Some(file) = secret.strip_prefix('@') {
        secret = std::fs::read_to_string(file).map_err(|e| format!("reading {file}: {e}"))?;
        // The newline an editor or `echo` ends the file with is not part of the secret.
        let end = secret.trim_end_matches(['\n', '\r']).len();
        secret.truncate(end);
    }
    let url = required(args.url, "--url")?;
    let path = required(args.body, "--body")?;

    let mut body = Vec::new();
    if path == "-" {
        std::io::stdin()
            .read_to_end(&mut body)
            .map_err(|e| format!("reading standard input: {e}"))?;
    } else {
        body = std::fs::read(&path).map_err(|e| format!("reading {path}: {e}"))?;
    }

    let scheme = providers::by_name(&provider).map_err(|e| e.to_string())?;
    let signer = Signer::new(scheme, &secret)
        .map_err(|e| format!("secret: {e}"))?
        .url(args.signed_url.unwrap_or_else(|| url.clone()));
    let signer = match args.id {
        Some(id) => signer.id(id),
        None => signer,
    };
    let signer = match args.timestamp {
        Some(ts) => signer.timestamp(ts),
        None => signer,
    };
    // Some providers sign inside the body (Mailgun, AWS SNS): send the body the signer wrote.
    let signed = signer
        .sign_request(&body)
        .map_err(|e| format!("signing: {e}"))?;
    let (mut headers, body) = (signed.headers, signed.body);
    for (name, value) in args.headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("--header {name}: {e}"))?;
        let value = HeaderValue::from_str(&value).map_err(|e| format!("--header value: {e}"))?;
        headers.insert(name, value);
    }

    for (name, value) in &headers {
        // Token schemes send the secret itself (GitLab, Buildkite, Basic auth): never printed.
        let text = value.to_str().unwrap_or("<binary>");
        let shown = if name == http::header::AUTHORIZATION || text.contains(secret.as_str()) {
            "[redacted]"
        } else {
            text
        };
        println!("> {name}: {shown}");
    }
    let response = reqwest::Client::new()
        .post(&url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = response.status();
    println!("< {status}");
    for (name, value) in response.headers() {
        println!("< {name}: {}", value.to_str().unwrap_or("<binary>"));
    }
    let text = response
        .text()
        .await
        .map_err(|e| format!("reading the response: {e}"))?;
    println!("\n{text}");
    Ok(status.is_success())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
