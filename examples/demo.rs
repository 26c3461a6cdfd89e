//! The whole crate in one run, no setup: an axum receiver on loopback with the in-memory store
//! and a handler that records what it processed; a scripted sender posts real HTTP deliveries
//! from several providers — valid, duplicate, 20 concurrent duplicates, tampered, wrong secret,
//! expired, future, oversized, a handler failure and the sender's retry — and the table shows
//! what came back. Then the durable inbox: a SQLite file in a temporary
//! directory behind the axum inbox route, signed deliveries answered before any handler runs, a
//! worker whose handler fails once (retried after a backoff), a poison event dead-lettered and
//! replayed once "the fix is deployed". Exits non-zero if any row differs from what is expected.
//!
//! Run: `cargo run --example demo` (the default features, `axum` and `sqlite`, are all it needs)

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use http::HeaderMap;
use webhook_receiver::axum::{WebhookJson, WebhookLayer};
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::providers::{GitHub, Scheme, StandardWebhooks, Stripe};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Receiver, Verified, Verifier};

const STRIPE_SECRET: &str = "whsec_test_secret";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY_LIMIT: usize = 64 * 1024;

/// What the demo's handler records: how many times it ran per demo event.
#[derive(Default)]
struct Processed {
    runs: Mutex<HashMap<String, usize>>,
}

/// The payload every demo delivery carries.
#[derive(serde::Deserialize)]
struct DemoEvent {
    demo: String,
    #[serde(default)]
    slow: bool,
    #[serde(default)]
    fail_first: bool,
}

async fn handler(
    State(processed): State<Arc<Processed>>,
    verified: Verified<'static>,
    WebhookJson(event): WebhookJson<DemoEvent>,
) -> (StatusCode, String) {
    let run = {
        let mut runs = processed.runs.lock().expect("not poisoned");
        let n = runs.entry(event.demo.clone()).or_default();
        *n += 1;
        *n
    };
    if event.slow {
        tokio::time::sleep(Duration::from_millis(2000)).await;
    }
    if event.fail_first && run == 1 {
        return (StatusCode::INTERNAL_SERVER_ERROR, "database down".into());
    }
    (
        StatusCode::OK,
        format!("processed {} from {}", event.demo, verified.scheme()),
    )
}

fn receiver(scheme: impl Scheme, secret: &str, store: &MemoryStore) -> Receiver {
    let verifier = Verifier::builder(scheme)
        .secret(secret)
        .body_limit(BODY_LIMIT)
        .build()
        .expect("demo secrets are valid");
    Receiver::new(verifier, store.clone())
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

struct Demo {
    client: reqwest::Client,
    base: String,
    processed: Arc<Processed>,
}

impl Demo {
    async fn post(&self, route: &str, headers: HeaderMap, body: &[u8]) -> u16 {
        match self
            .client
            .post(format!("{}{route}", self.base))
            .headers(headers)
            .body(body.to_vec())
            .send()
            .await
        {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }

    fn runs(&self, demo: &str) -> usize {
        let runs = self.processed.runs.lock().expect("not poisoned");
        runs.get(demo).copied().unwrap_or(0)
    }
}

fn body(demo: &str, extra: &str) -> Vec<u8> {
    format!(r#"{{"id":"evt_{demo}","demo":"{demo}"{extra}}}"#).into_bytes()
}

fn sign(scheme: impl Scheme, secret: &str, id: &str, ts: i64, body: &[u8]) -> HeaderMap {
    Signer::new(scheme, secret)
        .and_then(|s| s.id(id).timestamp(ts).sign(body))
        .expect("demo signing works")
}

#[tokio::main]
async fn main() -> ExitCode {
    // ---- the receiving side: one store, three providers on three routes.
    let store = MemoryStore::new();
    let processed = Arc::new(Processed::default());
    let app = Router::new()
        .route(
            "/webhooks/stripe",
            post(handler).layer(WebhookLayer::new(receiver(
                Stripe::new(),
                STRIPE_SECRET,
                &store,
            ))),
        )
        .route(
            "/webhooks/github",
            post(handler).layer(WebhookLayer::new(receiver(
                GitHub::new(),
                GITHUB_SECRET,
                &store,
            ))),
        )
        .route(
            "/webhooks/standard",
            post(handler).layer(WebhookLayer::new(receiver(
                StandardWebhooks::new(),
                SW_SECRET,
                &store,
            ))),
        )
        .with_state(Arc::clone(&processed));
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot bind a loopback port: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("receiver listening on http://{addr} (in-memory dedup store)\n");

    // ---- the sending side.
    let demo = Arc::new(Demo {
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        base: format!("http://{addr}"),
        processed,
    });
    let mut rows: Vec<(String, String, String, usize, usize)> = Vec::new();
    let mut check = |case: &str, expected: String, got: String, runs: usize, want_runs: usize| {
        rows.push((case.to_owned(), expected, got, runs, want_runs));
    };

    // Stripe: valid, then the exact same request again.
    let b = body("stripe-1", "");
    let h = sign(Stripe::new(), STRIPE_SECRET, "-", now(), &b);
    let got = demo.post("/webhooks/stripe", h.clone(), &b).await;
    check(
        "stripe: valid",
        "200".into(),
        got.to_string(),
        demo.runs("stripe-1"),
        1,
    );
    let got = demo.post("/webhooks/stripe", h, &b).await;
    check(
        "stripe: exact duplicate",
        "200".into(),
        got.to_string(),
        demo.runs("stripe-1"),
        1,
    );

    // Standard Webhooks: 20 copies at once while the handler is slow.
    let b = body("sw-burst", r#","slow":true"#);
    let h = sign(StandardWebhooks::new(), SW_SECRET, "msg_burst", now(), &b);
    let sends = (0..20).map(|_| {
        let (demo, h, b) = (Arc::clone(&demo), h.clone(), b.clone());
        tokio::spawn(async move { demo.post("/webhooks/standard", h, &b).await })
    });
    let mut statuses = Vec::new();
    for send in sends.collect::<Vec<_>>() {
        statuses.push(send.await.unwrap_or(0));
    }
    let tally = |s: &[u16]| {
        let ok = s.iter().filter(|&&c| c == 200).count();
        let conflict = s.iter().filter(|&&c| c == 409).count();
        let other = s.len() - ok - conflict;
        let mut text = format!("200x{ok} 409x{conflict}");
        if other > 0 {
            text.push_str(&format!(" otherx{other}"));
        }
        text
    };
    check(
        "standard: 20 concurrent duplicates",
        "200x1 409x19".into(),
        tally(&statuses),
        demo.runs("sw-burst"),
        1,
    );
    let got = demo.post("/webhooks/standard", h, &b).await;
    check(
        "standard: retry after completion",
        "200".into(),
        got.to_string(),
        demo.runs("sw-burst"),
        1,
    );

    // GitHub: valid, tampered body.
    let b = body("gh-1", "");
    let h = sign(GitHub::new(), GITHUB_SECRET, "-", now(), &b);
    let got = demo.post("/webhooks/github", h.clone(), &b).await;
    check(
        "github: valid",
        "200".into(),
        got.to_string(),
        demo.runs("gh-1"),
        1,
    );
    let tampered = body("gh-tampered", "");
    let got = demo.post("/webhooks/github", h, &tampered).await;
    check(
        "github: tampered body",
        "401".into(),
        got.to_string(),
        demo.runs("gh-tampered"),
        0,
    );

    // Stripe: wrong secret.
    let b = body("stripe-wrong", "");
    let h = sign(Stripe::new(), "whsec_someone_else", "-", now(), &b);
    let got = demo.post("/webhooks/stripe", h, &b).await;
    check(
        "stripe: wrong secret",
        "401".into(),
        got.to_string(),
        demo.runs("stripe-wrong"),
        0,
    );

    // Standard Webhooks: an hour old, an hour ahead.
    let b = body("sw-old", "");
    let h = sign(
        StandardWebhooks::new(),
        SW_SECRET,
        "msg_old",
        now() - 3600,
        &b,
    );
    let got = demo.post("/webhooks/standard", h, &b).await;
    check(
        "standard: expired timestamp",
        "401".into(),
        got.to_string(),
        demo.runs("sw-old"),
        0,
    );
    let b = body("sw-future", "");
    let h = sign(
        StandardWebhooks::new(),
        SW_SECRET,
        "msg_future",
        now() + 3600,
        &b,
    );
    let got = demo.post("/webhooks/standard", h, &b).await;
    check(
        "standard: future timestamp",
        "401".into(),
        got.to_string(),
        demo.runs("sw-future"),
        0,
    );

    // Stripe: a body over the 64 KiB limit.
    let mut b = body("stripe-big", r#","padding":""#);
    b.truncate(b.len() - 1);
    b.extend(std::iter::repeat_n(b'x', BODY_LIMIT));
    b.extend_from_slice(br#""}"#);
    let h = sign(Stripe::new(), STRIPE_SECRET, "-", now(), &b);
    let got = demo.post("/webhooks/stripe", h, &b).await;
    check(
        "stripe: oversized body",
        "413".into(),
        got.to_string(),
        demo.runs("stripe-big"),
        0,
    );

    // Standard Webhooks: a header missing.
    let b = body("sw-noheader", "");
    let mut h = sign(StandardWebhooks::new(), SW_SECRET, "msg_nohdr", now(), &b);
    h.remove("webhook-timestamp");
    let got = demo.post("/webhooks/standard", h, &b).await;
    check(
        "standard: missing header",
        "400".into(),
        got.to_string(),
        demo.runs("sw-noheader"),
        0,
    );

    // Standard Webhooks: the handler fails, the sender retries (re-signed, same id).
    let b = body("sw-flaky", r#","fail_first":true"#);
    let h = sign(StandardWebhooks::new(), SW_SECRET, "msg_flaky", now(), &b);
    let got = demo.post("/webhooks/standard", h, &b).await;
    check(
        "standard: handler fails",
        "500".into(),
        got.to_string(),
        demo.runs("sw-flaky"),
        1,
    );
    let h = sign(
        StandardWebhooks::new(),
        SW_SECRET,
        "msg_flaky",
        now() + 1,
        &b,
    );
    let got = demo.post("/webhooks/standard", h, &b).await;
    check(
        "standard: sender's retry",
        "200".into(),
        got.to_string(),
        demo.runs("sw-flaky"),
        2,
    );

    // ---- the table.
    println!(
        "{:<38} {:>14} {:>14} {:>13}",
        "case", "expected", "got", "handler runs"
    );
    let mut failures = 0;
    for (case, expected, got, runs, want_runs) in &rows {
        let ok = expected == got && runs == want_runs;
        if !ok {
            failures += 1;
        }
        println!(
            "{case:<38} {expected:>14} {got:>14} {:>13}{}",
            format!("{runs} (want {want_runs})"),
            if ok { "" } else { "   <-- MISMATCH" }
        );
    }
    println!();
    // ---- the durable inbox: accept now, process in a worker.
    let (inbox_rows, inbox_failures) = inbox_demo::run(&demo.client).await;
    let (total, failures) = (rows.len() + inbox_rows, failures + inbox_failures);

    if failures > 0 {
        eprintln!("{failures} row(s) differ from what was expected");
        ExitCode::FAILURE
    } else {
        println!("all {total} rows as expected");
        ExitCode::SUCCESS
    }
}

/// The durable inbox part: the axum inbox route in front of a SQLite file, and a worker.
mod inbox_demo {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use axum::Router;
    use axum::routing::post_service;
    use webhook_receiver::Verifier;
    use webhook_receiver::axum::InboxService;
    use webhook_receiver::inbox::{
        Counts, HandlerError, Inbox, Job, RetryPolicy, SqliteInbox, Status,
    };
    use webhook_receiver::providers::StandardWebhooks;

    use super::{BODY_LIMIT, SW_SECRET, body, now, sign};

    /// A directory removed when dropped, however the demo ends.
    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// When the worker's handler ran, per demo event.
    type Runs = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

    fn runs(runs: &Runs, demo: &str) -> usize {
        runs.lock()
            .expect("not poisoned")
            .get(demo)
            .map_or(0, Vec::len)
    }

    /// Runs the inbox part; returns how many rows it checked and how many differed.
    pub(super) async fn run(client: &reqwest::Client) -> (usize, usize) {
        match steps(client).await {
            Ok(result) => result,
            Err(e) => {
                eprintln!("the inbox part failed: {e}");
                (1, 1)
            }
        }
    }

    async fn steps(client: &reqwest::Client) -> Result<(usize, usize), Box<dyn std::error::Error>> {
        let dir = TempDir(
            std::env::temp_dir().join(format!("webhook-receiver-demo-{}", std::process::id())),
        );
        std::fs::create_dir_all(&dir.0)?;
        let path = dir.0.join("inbox.db");
        let inbox = Inbox::builder(SqliteInbox::open(&path).await?)
            .retry(
                RetryPolicy::new()
                    .base(Duration::from_millis(300))
                    .max_attempts(3),
            )
            .max_pending(1_000)
            .build()?;
        let verifier = Verifier::builder(StandardWebhooks::new())
            .secret(SW_SECRET)
            .body_limit(BODY_LIMIT)
            .build()?;
        let endpoint = inbox.endpoint(verifier).namespace("demo").build()?;
        let app = Router::new().route("/inbox/standard", post_service(InboxService::new(endpoint)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/inbox/standard", listener.local_addr()?);
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        println!("---- the durable inbox: verify, store, answer 200 at once; a worker processes");
        println!(
            "inbox route on {url} (SQLite file {}, removed at the end)\n",
            path.display()
        );

        // ---- the worker's side, not started yet: nothing runs on the request path.
        let ran: Runs = Arc::default();
        let fixed = Arc::new(AtomicBool::new(false));
        let handler = {
            let (ran, fixed) = (Arc::clone(&ran), Arc::clone(&fixed));
            move |job: Job| {
                let (ran, fixed) = (Arc::clone(&ran), Arc::clone(&fixed));
                async move {
                    let event: serde_json::Value = job.json()?;
                    let demo = event["demo"].as_str().unwrap_or("").to_owned();
                    ran.lock()
                        .expect("not poisoned")
                        .entry(demo.clone())
                        .or_default()
                        .push(Instant::now());
                    if demo == "inbox-flaky" && job.attempt() == 1 {
                        return Err(HandlerError::retry("database down"));
                    }
                    if demo == "inbox-poison" && !fixed.load(Ordering::SeqCst) {
                        return Err(HandlerError::permanent("unknown account"));
                    }
                    Ok(())
                }
            }
        };

        // ---- the sender's side.
        let mut rows: Vec<(String, String, String, usize, usize)> = Vec::new();
        let post = |body: Vec<u8>, headers: http::HeaderMap| {
            let request = client.post(&url).headers(headers).body(body);
            async move {
                match request.send().await {
                    Ok(response) => response.status().as_u16(),
                    Err(_) => 0,
                }
            }
        };
        let mut deliveries = Vec::new();
        let mut answered = Vec::new();
        for (demo, id) in [
            ("inbox-ok", "msg_inbox_ok"),
            ("inbox-flaky", "msg_inbox_flaky"),
            ("inbox-poison", "msg_inbox_poison"),
        ] {
            let b = body(demo, "");
            let h = sign(StandardWebhooks::new(), SW_SECRET, id, now(), &b);
            let sent = Instant::now();
            let got = post(b.clone(), h.clone()).await;
            answered.push(sent.elapsed());
            rows.push((
                format!("inbox: {demo} accepted"),
                "200".into(),
                got.to_string(),
                runs(&ran, demo),
                0,
            ));
            deliveries.push((b, h));
        }
        let (b, h) = deliveries[0].clone();
        let got = post(b, h).await;
        rows.push((
            "inbox: duplicate (stored once)".into(),
            "200".into(),
            got.to_string(),
            runs(&ran, "inbox-ok"),
            0,
        ));
        let (_, h) = deliveries[0].clone();
        let got = post(body("inbox-tampered", ""), h).await;
        rows.push((
            "inbox: tampered body".into(),
            "401".into(),
            got.to_string(),
            runs(&ran, "inbox-tampered"),
            0,
        ));
        let pending = inbox.counts().await?.pending;
        let slowest = answered.iter().max().copied().unwrap_or_default();
        println!(
            "{} records pending, no handler has run yet; each delivery was answered within {:.1} ms \
             (verified and stored durably, fsync included)\n",
            pending,
            slowest.as_secs_f64() * 1e3
        );

        // ---- the worker.
        let started = Instant::now();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = tokio::spawn(
            inbox
                .worker(handler)
                .concurrency(2)
                .poll_interval(Duration::from_millis(20))
                .run(async {
                    let _ = stopped.await;
                }),
        );
        wait(&inbox, |c| c.done == 2 && c.dead == 1).await?;
        for meta in inbox.list_dead(10).await? {
            println!(
                "dead letter: {} after {} attempt(s): {}",
                meta.key,
                meta.attempts,
                meta.last_error.as_deref().unwrap_or("")
            );
            println!("the fix is deployed; the operator replays it");
            fixed.store(true, Ordering::SeqCst);
            inbox.replay(&meta.key).await?;
        }
        wait(&inbox, |c| c.done == 3).await?;
        stop.send(()).ok();
        let report = worker.await??;
        if let Some(times) = ran.lock().expect("not poisoned").get("inbox-flaky")
            && let [first, second, ..] = times.as_slice()
        {
            println!(
                "inbox-flaky failed once (database down), ran again {:.2} s later (backoff: base 0.3 s, jitter ≤ 20 %)",
                (*second - *first).as_secs_f64()
            );
        }
        println!(
            "worker: {} done, {} retried, {} dead-lettered in {:.1} s\n",
            report.done,
            report.retried,
            report.dead,
            started.elapsed().as_secs_f64()
        );
        server.abort();

        for (demo, want_status, want_attempts, want_runs) in [
            ("inbox-ok", Status::Done, 1, 1),
            ("inbox-flaky", Status::Done, 2, 2),
            ("inbox-poison", Status::Done, 1, 2),
        ] {
            let key = format!("demo:id:msg_{}", demo.replace('-', "_"));
            let meta = inbox.inspect(&key).await?.ok_or("record missing")?.meta;
            rows.push((
                format!("inbox: {demo} worker result"),
                format!("{want_status} x{want_attempts}"),
                format!("{} x{}", meta.status, meta.attempts),
                runs(&ran, demo),
                want_runs,
            ));
        }
        let counts = inbox.counts().await?;
        rows.push((
            "inbox: records in the file".into(),
            "3/3 done".into(),
            format!(
                "{}/{} done",
                counts.done,
                counts.done + counts.pending + counts.running + counts.dead
            ),
            0,
            0,
        ));
        inbox.engine().close().await;

        println!(
            "{:<38} {:>14} {:>14} {:>13}",
            "case", "expected", "got", "handler runs"
        );
        let mut failures = 0;
        for (case, expected, got, runs, want_runs) in &rows {
            let ok = expected == got && runs == want_runs;
            if !ok {
                failures += 1;
            }
            println!(
                "{case:<38} {expected:>14} {got:>14} {:>13}{}",
                format!("{runs} (want {want_runs})"),
                if ok { "" } else { "   <-- MISMATCH" }
            );
        }
        println!("(x = attempts; the replay reset the poison event's count)\n");
        Ok((rows.len(), failures))
    }

    /// Waits until the counts satisfy `done` (at most 15 s).
    async fn wait(
        inbox: &Inbox<SqliteInbox>,
        done: impl Fn(&Counts) -> bool,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done(&inbox.counts().await?) {
            if Instant::now() > deadline {
                return Err("the worker did not finish in 15 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}
