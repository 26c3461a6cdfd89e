//! The durable inbox in one run, no setup: a SQLite file in a temporary directory, signed
//! Standard Webhooks deliveries accepted (answered at once, before any handler runs), a worker
//! whose handler fails twice on one event (retried with growing backoff) and always on another
//! (dead after its last attempt, then replayed once "the fix is deployed"), a duplicate and a
//! tampered request. Prints what each request got and what happened to each record; exits
//! non-zero if anything differs from what is expected.
//!
//! Run: `cargo run --example inbox`
//! Then look inside with `cargo run --example inbox_admin -- <the printed file> counts`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use webhook_receiver::Verifier;
use webhook_receiver::inbox::{HandlerError, Inbox, Job, RetryPolicy, SqliteInbox, Status};
use webhook_receiver::providers::StandardWebhooks;
use webhook_receiver::testing::Signer;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn delivery(id: &str, kind: &str) -> (HeaderMap, Bytes) {
    let body = format!(r#"{{"type":"{kind}","data":{{"id":"{id}"}}}}"#);
    let headers = Signer::new(StandardWebhooks::new(), SECRET)
        .expect("valid secret")
        .id(id)
        .sign(body.as_bytes())
        .expect("signable");
    (headers, Bytes::from(body))
}

/// What the handlers saw: per record, the time of each attempt since the start.
type Attempts = Arc<Mutex<HashMap<String, Vec<Duration>>>>;

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("webhook-inbox-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("inbox.db");
    let inbox = Inbox::builder(SqliteInbox::open(&path).await?)
        .retry(
            RetryPolicy::new()
                .base(Duration::from_millis(200))
                .factor(2.0)
                .max_attempts(4),
        )
        .build()?;
    let endpoint = inbox
        .endpoint(
            Verifier::builder(StandardWebhooks::new())
                .secret(SECRET)
                .build()?,
        )
        .namespace("shop")
        .build()?;

    // The request path: verify, store durably, answer. No handler runs here.
    println!("requests (answered before any processing):\n");
    println!("  {:<34} {:<8} why", "delivery", "answer");
    let mut expected_answers_ok = true;
    let requests = [
        (
            "msg_paid: invoice.paid",
            delivery("msg_paid", "invoice.paid"),
            200,
        ),
        (
            "msg_flaky: customer.updated",
            delivery("msg_flaky", "customer.updated"),
            200,
        ),
        (
            "msg_poison: order.created",
            delivery("msg_poison", "order.created"),
            200,
        ),
        (
            "msg_paid again (sender retry)",
            delivery("msg_paid", "invoice.paid"),
            200,
        ),
        (
            "tampered body",
            {
                let (headers, _) = delivery("msg_evil", "invoice.paid");
                (headers, Bytes::from_static(br#"{"type":"refund.all"}"#))
            },
            401,
        ),
    ];
    for (name, (headers, body), expected) in requests {
        let started = Instant::now();
        let (status, why) = match endpoint.receive(&headers, body).await {
            Ok(receipt) if receipt.is_duplicate() => (200, "duplicate: stored once already".into()),
            Ok(_) => (
                200,
                format!("stored in {:.1} ms", started.elapsed().as_secs_f64() * 1e3),
            ),
            Err(error) => (error.status().as_u16(), error.to_string()),
        };
        expected_answers_ok &= status == expected;
        println!("  {name:<34} {status:<8} {why}");
    }

    // The worker: one handler per event type, a default for the rest.
    let start = Instant::now();
    let attempts: Attempts = Arc::default();
    let fixed = Arc::new(AtomicBool::new(false));
    let note = {
        let attempts = Arc::clone(&attempts);
        move |job: &Job| {
            attempts
                .lock()
                .expect("not poisoned")
                .entry(job.key().to_owned())
                .or_default()
                .push(start.elapsed());
        }
    };
    let on_paid = {
        let note = note.clone();
        move |job: Job| {
            note(&job);
            async { Ok::<(), HandlerError>(()) }
        }
    };
    let on_customer = {
        let note = note.clone();
        move |job: Job| {
            note(&job);
            async move {
                if job.attempt() <= 2 {
                    return Err(HandlerError::retry("CRM timed out"));
                }
                Ok(())
            }
        }
    };
    let default = {
        let fixed = Arc::clone(&fixed);
        move |job: Job| {
            note(&job);
            let fixed = fixed.load(Ordering::SeqCst);
            async move {
                if !fixed {
                    return Err(HandlerError::retry("order service rejects the payload"));
                }
                Ok(())
            }
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(
        inbox
            .worker(default)
            .on("invoice.paid", on_paid)
            .on("customer.updated", on_customer)
            .concurrency(2)
            .poll_interval(Duration::from_millis(20))
            .run(async {
                let _ = stopped.await;
            }),
    );

    wait(&inbox, |c| c.done == 2 && c.dead == 1).await?;
    let dead = inbox.list_dead(10).await?;
    println!("\ndead letters after the retries:\n");
    for meta in &dead {
        println!(
            "  {} — {} attempts — {}",
            meta.key,
            meta.attempts,
            meta.last_error.as_deref().unwrap_or("")
        );
    }
    println!("\nthe fix is deployed; the operator replays the dead letters");
    fixed.store(true, Ordering::SeqCst);
    for meta in &dead {
        inbox.replay(&meta.key).await?;
    }
    wait(&inbox, |c| c.done == 3).await?;
    stop.send(()).ok();
    let report = worker.await??;

    println!("\nrecords:\n");
    println!(
        "  {:<18} {:<7} {:<9} attempt times (s since the worker started)",
        "key", "status", "attempts"
    );
    let attempts = attempts.lock().expect("not poisoned").clone();
    let mut all_ok = expected_answers_ok;
    for (key, status, runs) in [
        ("shop:id:msg_paid", Status::Done, 1),
        ("shop:id:msg_flaky", Status::Done, 3),
        ("shop:id:msg_poison", Status::Done, 5),
    ] {
        let meta = inbox.inspect(key).await?.ok_or("record missing")?.meta;
        let times = attempts.get(key).cloned().unwrap_or_default();
        let shown: Vec<String> = times
            .iter()
            .map(|t| format!("{:.2}", t.as_secs_f64()))
            .collect();
        let ok = meta.status == status && times.len() == runs;
        all_ok &= ok;
        println!(
            "  {:<18} {:<7} {:<9} {}{}",
            key.trim_start_matches("shop:id:"),
            meta.status,
            meta.attempts,
            shown.join(", "),
            if ok { "" } else { "   <- unexpected" }
        );
    }
    // The growing backoff is visible in msg_flaky's gaps.
    if let Some(times) = attempts.get("shop:id:msg_flaky") {
        let gaps: Vec<String> = times
            .windows(2)
            .map(|w| format!("{:.2}", (w[1] - w[0]).as_secs_f64()))
            .collect();
        println!(
            "\n  msg_flaky retried after {} s (base 0.2 s, doubling, jitter ≤ 20 %)",
            gaps.join(" then ")
        );
    }
    println!(
        "\nworker: {} done, {} retries, {} dead; the file: {}",
        report.done,
        report.retried,
        report.dead,
        path.display()
    );
    println!(
        "inspect it: cargo run --example inbox_admin -- {} counts",
        path.display()
    );
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        println!("\nsomething differed from what was expected");
        ExitCode::FAILURE
    })
}

/// Waits until the counts satisfy `done` (at most 30 s).
async fn wait(
    inbox: &Inbox<SqliteInbox>,
    done: impl Fn(&webhook_receiver::inbox::Counts) -> bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(&inbox.counts().await?) {
        if Instant::now() > deadline {
            return Err("the worker did not finish in 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
