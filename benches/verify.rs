//! Verification cost against a floor and two peer crates, in the same run.
//!
//! For bodies of 64 B, 1 KiB, 16 KiB and 1 MiB:
//! (a) `floor`: a pre-keyed HMAC-SHA256 (cloned) over the same signed bytes, compared with the tag;
//! (b) `ours`: `Verifier::verify_at` of a Standard Webhooks request;
//! (c) `standardwebhooks`: the reference crate verifying the same request;
//! (d) `webhook-verify`: the `webhook-verify` crate verifying the same request.
//!
//! After criterion's report, a table of median ratios against the floor is printed, measured in
//! interleaved rounds so that every contender sees the same machine state. Then every built-in
//! scheme at 1 KiB against its bare primitive.
//! Run: `cargo bench --bench verify`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine as _;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::Sha256;
use time::OffsetDateTime;
use webhook_receiver::Verifier;
use webhook_receiver::providers::StandardWebhooks;
use webhook_receiver::testing::Signer;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SIZES: [usize; 4] = [64, 1024, 16 * 1024, 1024 * 1024];

struct Case {
    body: Vec<u8>,
    headers: HeaderMap,
    ts: i64,
    ts_text: String,
    tag: Vec<u8>,
    wv_headers: Vec<(String, String)>,
}

fn case(size: usize) -> Case {
    let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    // The peer crates check against the real clock, so sign at the current time.
    let ts = OffsetDateTime::now_utc().unix_timestamp();
    let headers = Signer::new(StandardWebhooks::new(), SECRET)
        .unwrap()
        .id(ID)
        .timestamp(ts)
        .sign(&body)
        .unwrap();
    let sig = headers["webhook-signature"].to_str().unwrap();
    let tag = base64::engine::general_purpose::STANDARD
        .decode(sig.trim_start_matches("v1,"))
        .unwrap();
    let wv_headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    Case {
        body,
        headers,
        ts,
        ts_text: ts.to_string(),
        tag,
        wv_headers,
    }
}

/// One way of verifying a request.
type Contender = fn(&Contenders, &Case) -> bool;

struct Contenders {
    floor_key: Hmac<Sha256>,
    ours: Verifier,
    reference: standardwebhooks::Webhook,
    wv_secret: webhook_verify::Secret,
}

impl Contenders {
    fn new() -> Self {
        let key = base64::engine::general_purpose::STANDARD
            .decode(SECRET.trim_start_matches("whsec_"))
            .unwrap();
        Self {
            floor_key: <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap(),
            ours: Verifier::builder(StandardWebhooks::new())
                .secret(SECRET)
                .build()
                .unwrap(),
            reference: standardwebhooks::Webhook::new(SECRET).unwrap(),
            wv_secret: webhook_verify::Secret::new(SECRET),
        }
    }

    /// The floor: the signed bytes fed to a pre-keyed MAC, then a constant-time comparison.
    fn floor(&self, case: &Case) -> bool {
        let mut mac = self.floor_key.clone();
        mac.update(ID.as_bytes());
        mac.update(b".");
        mac.update(case.ts_text.as_bytes());
        mac.update(b".");
        mac.update(&case.body);
        mac.verify_slice(&case.tag).is_ok()
    }

    fn ours(&self, case: &Case) -> bool {
        let now = OffsetDateTime::from_unix_timestamp(case.ts).unwrap();
        self.ours.verify_at(&case.headers, &case.body, now).is_ok()
    }

    fn reference(&self, case: &Case) -> bool {
        self.reference.verify(&case.body, &case.headers).is_ok()
    }

    fn webhook_verify(&self, case: &Case) -> bool {
        webhook_verify::verify(
            webhook_verify::Provider::StandardWebhooks,
            &case.wv_headers,
            &case.body,
            &self.wv_secret,
            webhook_verify::VerifyOptions::default(),
        )
        .is_ok()
    }

    fn all(&self) -> [(&'static str, Contender); 4] {
        [
            ("floor", Self::floor),
            ("ours", Self::ours),
            ("standardwebhooks", Self::reference),
            ("webhook-verify", Self::webhook_verify),
        ]
    }
}

fn bench(cr: &mut Criterion) {
    let c = Contenders::new();
    let mut group = cr.benchmark_group("verify");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    for size in SIZES {
        let case = case(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.sample_size(if size >= 1 << 20 { 20 } else { 50 });
        for (name, f) in c.all() {
            assert!(f(&c, &case), "{name} must accept the request");
            group.bench_with_input(BenchmarkId::new(name, size), &case, |b, case| {
                b.iter(|| f(&c, black_box(case)))
            });
        }
    }
    group.finish();
}

/// Median nanoseconds per call of `f` over `rounds` timed batches of ~`target` each.
fn median_ns(mut f: impl FnMut() -> bool, target: Duration, rounds: usize) -> f64 {
    let mut iters = 1u64;
    while iters < 1 << 24 {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        if start.elapsed() >= target {
            break;
        }
        iters *= 2;
    }
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[rounds / 2]
}

fn ratio_table() {
    let c = Contenders::new();
    println!("\nverify: median ns per call, and ratio to the HMAC floor (interleaved rounds)");
    println!(
        "{:>8} | {:>9} | {:>9} {:>6} | {:>9} {:>6} | {:>9} {:>6}",
        "body", "floor", "ours", "ratio", "stdwh", "ratio", "wh-verify", "ratio"
    );
    for size in SIZES {
        let case = case(size);
        let mut medians = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..9 {
            for (i, (_, f)) in c.all().into_iter().enumerate() {
                medians[i].push(median_ns(
                    || f(&c, black_box(&case)),
                    Duration::from_millis(10),
                    3,
                ));
            }
        }
        let [fl, ou, sw, wv] = medians.map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        });
        println!(
            "{:>8} | {:>9.0} | {:>9.0} {:>6.3} | {:>9.0} {:>6.3} | {:>9.0} {:>6.3}",
            size,
            fl,
            ou,
            ou / fl,
            sw,
            sw / fl,
            wv,
            wv / fl
        );
    }
}

/// One built-in scheme at 1 KiB: our verification against the bare primitive over the same
/// body (a pre-keyed HMAC of the scheme's algorithm, or the Ed25519 / ECDSA verification).
fn scheme_table() {
    use webhook_receiver::providers::{
        Discord, GitHub, GitLab, Intercom, Linear, Mailgun, Paddle, PagerDuty, Scheme, SendGrid,
        Shopify, Slack, Square, Stripe, Twilio, Twitch, Zoom,
    };
    use webhook_receiver::{Algorithm, Request};

    const URL: &str = "https://hooks.example.com/in";
    // A JSON object of exactly 1 KiB, with the ids the schemes read.
    let body: Vec<u8> = {
        let (head, tail) = (r#"{"id":"evt_1","event_id":"evt_1","data":""#, r#""}"#);
        let filler: String = (0..1024 - head.len() - tail.len())
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        format!("{head}{filler}{tail}").into_bytes()
    };
    let ts = OffsetDateTime::now_utc().unix_timestamp();
    let now = OffsetDateTime::from_unix_timestamp(ts).unwrap();

    let hmac_floor = |algorithm: Algorithm| -> Box<dyn Fn() -> bool> {
        let body = body.clone();
        match algorithm {
            Algorithm::HmacSha1 => {
                let key = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(b"secret").unwrap();
                Box::new(move || {
                    let mut m = key.clone();
                    m.update(&body);
                    m.verify_slice(&[0u8; 20]).is_ok()
                })
            }
            _ => {
                let key = <Hmac<Sha256> as KeyInit>::new_from_slice(b"secret").unwrap();
                Box::new(move || {
                    let mut m = key.clone();
                    m.update(&body);
                    m.verify_slice(&[0u8; 32]).is_ok()
                })
            }
        }
    };
    let ed25519_floor = || -> Box<dyn Fn() -> bool> {
        use ed25519_dalek::Signer as _;
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let signature = key.sign(&body);
        let public = key.verifying_key();
        let body = body.clone();
        Box::new(move || public.verify_strict(&body, &signature).is_ok())
    };
    let p256_floor = || -> Box<dyn Fn() -> bool> {
        use p256::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
        use sha2::Digest as _;
        let key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let signature: p256::ecdsa::Signature = key.sign_prehash(&Sha256::digest(&body)).unwrap();
        let public = *key.verifying_key();
        let body = body.clone();
        Box::new(move || {
            public
                .verify_prehash(&Sha256::digest(&body), &signature)
                .is_ok()
        })
    };

    fn shared(scheme: impl Scheme + Clone, key: &str) -> (Verifier, Signer) {
        (
            Verifier::builder(scheme.clone())
                .secret(key)
                .build()
                .unwrap(),
            Signer::new(scheme, key).unwrap(),
        )
    }
    fn public(scheme: impl Scheme + Clone) -> (Verifier, Signer) {
        let (signer, key) = Signer::generate(scheme.clone()).unwrap();
        (
            Verifier::builder(scheme).public_key(&key).build().unwrap(),
            signer,
        )
    }
    let raw = "a raw secret of twenty";
    let schemes: Vec<(&str, (Verifier, Signer))> = vec![
        ("standard-webhooks", shared(StandardWebhooks::new(), SECRET)),
        ("standard-webhooks v1a", public(StandardWebhooks::new())),
        ("stripe", shared(Stripe::new(), raw)),
        ("github", shared(GitHub::new(), raw)),
        ("slack", shared(Slack::new(), raw)),
        ("shopify", shared(Shopify::new(), raw)),
        ("twilio", shared(Twilio::new(), raw)),
        ("paddle", shared(Paddle::new(), raw)),
        ("linear", shared(Linear::new(), raw)),
        ("square", shared(Square::new(), raw)),
        ("zoom", shared(Zoom::new(), raw)),
        ("discord", public(Discord::new())),
        ("sendgrid", public(SendGrid::new())),
        ("mailgun", shared(Mailgun::new(), raw)),
        ("intercom", shared(Intercom::new(), raw)),
        ("gitlab (token)", shared(GitLab::new(), raw)),
        ("twitch", shared(Twitch::new(), raw)),
        ("pagerduty", shared(PagerDuty::new(), raw)),
    ];
    println!(
        "\nevery scheme at 1 KiB: median ns per verification, and ratio to the bare primitive"
    );
    println!(
        "{:>22} | {:>9} | {:>9} | {:>6}",
        "scheme", "primitive", "ours", "ratio"
    );
    for (name, (verifier, signer)) in schemes {
        let signed = signer
            .timestamp(ts)
            .id("msg_bench")
            .url(URL)
            .sign_request(&body)
            .unwrap();
        let (headers, sent) = (signed.headers, signed.body);
        let algorithm = verifier.scheme().algorithms()[0];
        let floor = match verifier.scheme().algorithms() {
            a if a.contains(&Algorithm::EcdsaP256Sha256) => p256_floor(),
            a if a == [Algorithm::Ed25519] => ed25519_floor(),
            _ if name.contains("v1a") => ed25519_floor(),
            _ => hmac_floor(algorithm),
        };
        let ours = || {
            verifier
                .verify_request_at(&Request::new(&headers, &sent).url(URL), now)
                .is_ok()
        };
        assert!(ours(), "{name} must verify");
        let (mut f, mut o) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            f.push(median_ns(&*floor, Duration::from_millis(10), 3));
            o.push(median_ns(ours, Duration::from_millis(10), 3));
        }
        f.sort_by(f64::total_cmp);
        o.sort_by(f64::total_cmp);
        let (f, o) = (f[2], o[2]);
        println!("{name:>22} | {f:>9.0} | {o:>9.0} | {:>6.2}", o / f);
    }
}

/// A fetched key (SNS, RSA) served from a `KeyCache` that holds it, against the same
/// verification with the key passed in: what the cache's look-up costs per request.
fn key_cache_table() {
    use futures_util::FutureExt as _;
    use webhook_receiver::Request;
    use webhook_receiver::keysource::KeyCache;
    use webhook_receiver::providers::Sns;

    let sns = Sns::new("arn:aws:sns:us-east-1:123456789012:orders").unwrap();
    let (signer, certificate) = Signer::generate(sns.clone()).unwrap();
    let ts = OffsetDateTime::now_utc().unix_timestamp();
    let now = OffsetDateTime::from_unix_timestamp(ts).unwrap();
    let keys = webhook_receiver::testing::LocalKeys::new()
        .with(signer.remote_key_id().unwrap(), &certificate);
    let cache = KeyCache::new(keys);
    let verifier = Verifier::builder(sns).build().unwrap();
    let signed = signer
        .timestamp(ts)
        .id("msg_bench")
        .sign_request(br#"{"Type":"Notification","Message":"{\"order\":1}"}"#)
        .unwrap();
    let request = Request::new(&signed.headers, &signed.body);
    // Held from here on: every later call is a cache hit, which never awaits.
    let cached = || {
        cache
            .verify_request_at(&verifier, &request, now)
            .now_or_never()
            .expect("a held key is served without waiting")
            .is_ok()
    };
    assert!(cached(), "the SNS message must verify");
    let remote =
        webhook_receiver::keysource::RemoteKey::from_certificate(certificate.as_ref()).unwrap();
    let direct = || {
        verifier
            .verify_request_with_key_at(&request, &remote, now)
            .is_ok()
    };
    assert!(direct());
    let (mut d, mut c) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        d.push(median_ns(direct, Duration::from_millis(20), 3));
        c.push(median_ns(cached, Duration::from_millis(20), 3));
    }
    d.sort_by(f64::total_cmp);
    c.sort_by(f64::total_cmp);
    println!("\nSNS (RSA) with a held key: median ns per verification");
    println!(
        "{:>22} | {:>9} | {:>9} | {:>6}",
        "", "key given", "KeyCache", "ratio"
    );
    println!(
        "{:>22} | {:>9.0} | {:>9.0} | {:>6.3}",
        "sns",
        d[2],
        c[2],
        c[2] / d[2]
    );
}

criterion_group!(benches, bench);

fn main() {
    // VERIFY_RATIO_ONLY=1 prints only the ratio table.
    if std::env::var_os("VERIFY_RATIO_ONLY").is_none() {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    ratio_table();
    scheme_table();
    key_cache_table();
}
