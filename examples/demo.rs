//! Signs and verifies a handful of requests across the providers — valid, tampered, wrong
//! secret, expired, rotated secret — and prints one line per case with the verdict.
//! Exits non-zero if any verdict is not the expected one.
//!
//! Run: `cargo run --example demo`

use std::process::ExitCode;

use time::OffsetDateTime;
use webhook_receiver::providers::{GitHub, Scheme, Shopify, Slack, StandardWebhooks, Stripe};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Verifier, VerifyError};

const NOW: i64 = 1_767_225_600;

struct Provider {
    scheme: Box<dyn Fn() -> Box<dyn SchemeFactory>>,
    secret: &'static str,
    other_secret: &'static str,
}

/// Builds the same scheme twice: once for the sender, once for the receiver.
trait SchemeFactory {
    fn verifier(&self, secrets: &[(&str, &str)]) -> Verifier;
    fn signer(&self, secret: &str) -> Signer;
}

impl<S: Scheme + Clone> SchemeFactory for S {
    fn verifier(&self, secrets: &[(&str, &str)]) -> Verifier {
        secrets
            .iter()
            .fold(Verifier::builder(self.clone()), |b, (label, secret)| {
                b.labeled_secret(*label, secret)
            })
            .build()
            .expect("demo secrets are valid")
    }
    fn signer(&self, secret: &str) -> Signer {
        Signer::new(self.clone(), secret).expect("demo secrets are valid")
    }
}

fn main() -> ExitCode {
    let providers = [
        Provider {
            scheme: Box::new(|| Box::new(StandardWebhooks::new())),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            other_secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        },
        Provider {
            scheme: Box::new(|| Box::new(Stripe::new())),
            secret: "whsec_test_secret",
            other_secret: "whsec_other_secret",
        },
        Provider {
            scheme: Box::new(|| Box::new(GitHub::new())),
            secret: "It's a Secret to Everybody",
            other_secret: "another secret",
        },
        Provider {
            scheme: Box::new(|| Box::new(Slack::new())),
            secret: "8f742231b10e8888abcd99yyyzzz85a5",
            other_secret: "another secret",
        },
        Provider {
            scheme: Box::new(|| Box::new(Shopify::new())),
            secret: "hush",
            other_secret: "another secret",
        },
    ];
    let body = br#"{"id":"evt_demo_1","event_id":"Ev_demo_1","type":"demo.ping"}"#;
    let now = OffsetDateTime::from_unix_timestamp(NOW).expect("valid time");
    let mut failures = 0;

    println!(
        "{:<18} {:<14} {:<10} {:<10} detail",
        "scheme", "case", "expected", "got"
    );
    for p in &providers {
        let scheme = (p.scheme)();
        let verifier = scheme.verifier(&[("current", p.secret)]);
        let name = verifier.scheme().name().to_owned();
        let signed = |secret: &str, ts: i64| {
            scheme
                .signer(secret)
                .timestamp(ts)
                .sign(body)
                .expect("signing works")
        };
        let timestamped = verifier.has_timestamp();

        let mut cases: Vec<(&str, bool, Result<String, VerifyError>)> = Vec::new();
        let valid = signed(p.secret, NOW);
        cases.push((
            "valid",
            true,
            verifier
                .verify_at(&valid, body, now)
                .map(|v| format!("dedup key {}", v.dedup_key())),
        ));
        let mut tampered = body.to_vec();
        tampered[2] ^= 1;
        cases.push((
            "tampered body",
            false,
            verifier
                .verify_at(&valid, &tampered, now)
                .map(|_| String::new()),
        ));
        cases.push((
            "wrong secret",
            false,
            verifier
                .verify_at(&signed(p.other_secret, NOW), body, now)
                .map(|_| String::new()),
        ));
        if timestamped {
            cases.push((
                "expired",
                false,
                verifier
                    .verify_at(&signed(p.secret, NOW - 3600), body, now)
                    .map(|_| String::new()),
            ));
        }
        let rotated = scheme.verifier(&[("new", p.other_secret), ("old", p.secret)]);
        cases.push((
            "rotated secret",
            true,
            rotated
                .verify_at(&valid, body, now)
                .map(|v| format!("matched secret {:?}", v.key_label().unwrap_or("?"))),
        ));

        for (case, expect_ok, result) in cases {
            let (got, detail) = match &result {
                Ok(detail) => ("accepted", detail.clone()),
                Err(e) => ("rejected", format!("{} {e}", e.status().as_u16())),
            };
            let expected = if expect_ok { "accepted" } else { "rejected" };
            let mark = if got == expected {
                ""
            } else {
                "  <-- UNEXPECTED"
            };
            if !mark.is_empty() {
                failures += 1;
            }
            println!("{name:<18} {case:<14} {expected:<10} {got:<10} {detail}{mark}");
        }
    }
    if failures > 0 {
        eprintln!("{failures} unexpected verdict(s)");
        ExitCode::FAILURE
    } else {
        println!("all verdicts as expected");
        ExitCode::SUCCESS
    }
}
